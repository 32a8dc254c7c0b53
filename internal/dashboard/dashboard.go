package dashboard

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"sync"
	"time"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/store"
)

//go:embed assets
var assets embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"span":     span,
	"clock":    clock,
	"phase":    func(p string) string { return strings.ToLower(orDefault(p, v1alpha1.PhaseNotStarted)) },
	"orNot":    func(p string) string { return orDefault(p, v1alpha1.PhaseNotStarted) },
	"waiting":  waitingApprovals,
	"canRoll":  canRollBack,
	"canStop":  canStop,
	"percent":  func(w int) int { return max(0, min(100, w)) },
	"weights":  weights,
	"approved": func(t v1alpha1.TaskStatus) bool { return t.ApprovedBy != "" },
}).ParseFS(assets, "assets/*.html"))

// Server is the dashboard over one place runs are kept.
type Server struct {
	// Runs is where the runs are read and requests recorded.
	Runs store.Runs
	// Auth signs people in and says what they may do; nil is
	// SharedToken{Token}.
	Auth Authenticator
	// Token is the shared token when Auth is nil; it is compared in
	// constant time and never shown.
	Token string
	// SessionKey signs session cookies. Replicas behind one Service share
	// it (from a Secret); empty, a random key per process.
	SessionKey []byte
	// Where names what the dashboard shows ("home /x" or "hub ns").
	Where string
	// Poll is how often an event stream looks for changes (default 1s).
	Poll time.Duration
	// Secure marks the session cookie Secure (serve over TLS).
	Secure bool

	keyOnce sync.Once
}

const (
	cookieName = "upshift_session"
	sessionTTL = 8 * time.Hour
)

func (s *Server) auth() Authenticator {
	if s.Auth != nil {
		return s.Auth
	}
	return SharedToken{Token: s.Token}
}

// Handler serves the dashboard.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /assets/", http.FileServerFS(assets))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)
	mux.HandleFunc("GET /{$}", s.page(s.runsPage))
	mux.HandleFunc("GET /events", s.page(s.runsEvents))
	mux.HandleFunc("GET /runs/{name}", s.page(s.runPage))
	mux.HandleFunc("GET /runs/{name}/events", s.page(s.runEvents))
	mux.HandleFunc("POST /runs/{name}/approve", s.action(ActionApprove, s.approve))
	mux.HandleFunc("POST /runs/{name}/stop", s.action(ActionStop, s.stop))
	mux.HandleFunc("POST /runs/{name}/rollback", s.action(ActionRollback, s.rollback))
	return secureHeaders(mux)
}

// secureHeaders keeps the pages out of frames and scripts to our own.
func secureHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// view is what a page template gets.
type view struct {
	Where    string
	Who      string
	CSRF     string
	AsksName bool
	Runs     []*v1alpha1.UpdateRun
	Run      *v1alpha1.UpdateRun
	Error    string
}

// authenticate finds the session of a request, or checks its bearer token
// (a client that sends a token itself needs no CSRF token).
func (s *Server) authenticate(r *http.Request) (sess session, bearer, ok bool) {
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		id, err := s.auth().Authenticate(r.Context(), strings.TrimPrefix(h, "Bearer "), "")
		if err != nil {
			return session{}, false, false
		}
		return session{Identity: id}, true, true
	}
	c, err := r.Cookie(cookieName)
	if err != nil {
		return session{}, false, false
	}
	sess, err = s.open(c.Value, time.Now())
	return sess, false, err == nil
}

// page serves a page to a signed-in browser; others are sent to sign in.
func (s *Server) page(h func(http.ResponseWriter, *http.Request, session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, _, ok := s.authenticate(r)
		if !ok {
			if strings.HasSuffix(r.URL.Path, "/events") {
				http.Error(w, "sign in first", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		h(w, r, sess)
	}
}

// action serves a button: only a signed-in browser whose form carries its
// session's CSRF token, or a client with a bearer token, and only for
// someone the Authenticator allows to take it.
func (s *Server) action(action string, h func(r *http.Request, name, who string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, bearer, ok := s.authenticate(r)
		if !ok {
			s.render(w, http.StatusUnauthorized, "login.html", view{Where: s.Where, AsksName: s.auth().AsksName(), Error: "Sign in to do that: nothing was changed."})
			return
		}
		if !bearer && subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.csrf(sess))) != 1 {
			http.Error(w, "this form is stale or was not sent by the dashboard (CSRF token): nothing was changed; reload the page", http.StatusForbidden)
			return
		}
		if err := s.auth().Allow(r.Context(), sess.Identity, action); err != nil {
			http.Error(w, err.Error()+": nothing was changed", http.StatusForbidden)
			return
		}
		name := r.PathValue("name")
		if err := h(r, name, sess.Name); err != nil {
			status := http.StatusBadRequest
			if errors.Is(err, store.ErrNotFound) {
				status = http.StatusNotFound
			}
			http.Error(w, err.Error(), status)
			return
		}
		if bearer {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		http.Redirect(w, r, "/runs/"+name, http.StatusSeeOther)
	}
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "login.html", view{Where: s.Where, AsksName: s.auth().AsksName()})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	a := s.auth()
	refuse := func(status int, msg string) {
		s.render(w, status, "login.html", view{Where: s.Where, AsksName: a.AsksName(), Error: msg})
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if a.AsksName() && name == "" {
		refuse(http.StatusUnauthorized, "Give your name: it is recorded with what you approve, stop or roll back.")
		return
	}
	id, err := a.Authenticate(r.Context(), r.PostFormValue("token"), name)
	if err != nil {
		refuse(http.StatusUnauthorized, "Not signed in: "+err.Error()+".")
		return
	}
	if err := a.Allow(r.Context(), id, ActionView); err != nil {
		refuse(http.StatusForbidden, "Not signed in: "+err.Error()+".")
		return
	}
	sess := session{Identity: id, ID: randomHex()[:32], Expires: time.Now().Add(sessionTTL).Unix()}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: s.seal(sess), Path: "/", HttpOnly: true, Secure: s.Secure, SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL.Seconds())})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout clears the browser's cookie. Sessions are signed, not stored: a
// copy of the cookie stays valid until it expires (sessionTTL), and
// rotating the session key ends every session.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.Secure, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Server) runsPage(w http.ResponseWriter, r *http.Request, sess session) {
	runs, err := s.Runs.List()
	v := view{Where: s.Where, Who: sess.Name, CSRF: s.csrf(sess), Runs: newestFirst(runs)}
	if err != nil {
		v.Error = err.Error()
	}
	s.render(w, http.StatusOK, "runs.html", v)
}

func (s *Server) runPage(w http.ResponseWriter, r *http.Request, sess session) {
	run, err := s.Runs.Get(r.PathValue("name"))
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, store.ErrNotFound) {
			status = http.StatusNotFound
		}
		s.render(w, status, "runs.html", view{Where: s.Where, Who: sess.Name, CSRF: s.csrf(sess), Error: err.Error()})
		return
	}
	s.render(w, http.StatusOK, "run.html", view{Where: s.Where, Who: sess.Name, CSRF: s.csrf(sess), Run: run})
}

func (s *Server) runsEvents(w http.ResponseWriter, r *http.Request, sess session) {
	s.stream(w, r, func() (string, error) {
		runs, err := s.Runs.List()
		if err != nil {
			return "", err
		}
		return s.fragment("runs-table", view{Runs: newestFirst(runs), CSRF: s.csrf(sess)})
	})
}

func (s *Server) runEvents(w http.ResponseWriter, r *http.Request, sess session) {
	name := r.PathValue("name")
	s.stream(w, r, func() (string, error) {
		run, err := s.Runs.Get(name)
		if err != nil {
			return "", err
		}
		return s.fragment("run-live", view{Run: run, CSRF: s.csrf(sess)})
	})
}

// stream sends the fragment as a server-sent "update" event each time it
// changes, until the browser goes away.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, render func() (string, error)) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	poll := s.Poll
	if poll <= 0 {
		poll = time.Second
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	last, quiet := "", 0
	for {
		html, err := render()
		switch {
		case err != nil:
			fmt.Fprintf(w, "event: problem\ndata: %s\n\n", strings.ReplaceAll(err.Error(), "\n", " "))
		case html != last:
			last = html
			var b strings.Builder
			b.WriteString("event: update\n")
			for line := range strings.SplitSeq(html, "\n") {
				b.WriteString("data: " + line + "\n")
			}
			b.WriteString("\n")
			_, _ = w.Write([]byte(b.String()))
			quiet = 0
		default:
			if quiet++; quiet*int(poll) >= int(15*time.Second) {
				_, _ = w.Write([]byte(": still here\n\n"))
				quiet = 0
			}
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}

func (s *Server) approve(r *http.Request, name, who string) error {
	stage, task := r.PostFormValue("stage"), r.PostFormValue("task")
	cluster, gate := r.PostFormValue("cluster"), r.PostFormValue("gate")
	run, err := s.Runs.Get(name)
	if err != nil {
		return err
	}
	var key string
	switch {
	case cluster != "":
		// A cluster's Approval gate: the stage only says where it is.
		if err := engine.CheckApproval(run, "", "", cluster, gate); err != nil {
			return err
		}
		key = store.ClusterGateKey(cluster, gate)
	default:
		if err := engine.CheckApproval(run, stage, task, "", ""); err != nil {
			return err
		}
		key = store.StageKey(stage)
		if task != "" {
			key = store.StageTaskKey(stage, task)
		}
	}
	now := time.Now().UTC()
	if err := s.Runs.Approve(name, store.Approval{Key: key, By: who, Time: now}); err != nil {
		return err
	}
	_ = s.Runs.Audit(name, store.Event{Time: now, Type: store.EventApproved, Message: fmt.Sprintf("%s approved by %s (dashboard)", key, who)})
	return nil
}

func (s *Server) stop(r *http.Request, name, who string) error {
	run, err := s.Runs.Get(name)
	if err != nil {
		return err
	}
	if !canStop(run) {
		return fmt.Errorf("run %s is %s: there is nothing to stop", name, orDefault(run.Status.Phase, v1alpha1.PhaseNotStarted))
	}
	if err := s.Runs.SetState(name, v1alpha1.StateStop); err != nil {
		return err
	}
	_ = s.Runs.Audit(name, store.Event{Time: time.Now().UTC(), Type: store.EventStopRequested, Message: "stop requested by " + who + " (dashboard)"})
	return nil
}

func (s *Server) rollback(r *http.Request, name, who string) error {
	run, err := s.Runs.Get(name)
	if err != nil {
		return err
	}
	if !canRollBack(run) {
		return fmt.Errorf("run %s cannot be rolled back: only a blue-green or canary run before blue is retired can", name)
	}
	if err := s.Runs.SetState(name, v1alpha1.StateRollback); err != nil {
		return err
	}
	_ = s.Runs.Audit(name, store.Event{Time: time.Now().UTC(), Type: store.EventRollbackRequested, Message: "rollback requested by " + who + " (dashboard)"})
	return nil
}

func (s *Server) render(w http.ResponseWriter, status int, name string, v view) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

func (s *Server) fragment(name string, v view) (string, error) {
	var b strings.Builder
	err := pages.ExecuteTemplate(&b, name, v)
	return b.String(), err
}

func randomHex() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// NewToken makes a random dashboard token.
func NewToken() string { return randomHex() }
