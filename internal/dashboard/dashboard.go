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
	// Token signs people in; it is compared in constant time and never
	// shown. A request may also send it as "Authorization: Bearer".
	Token string
	// Where names what the dashboard shows ("home /x" or "hub ns").
	Where string
	// Poll is how often an event stream looks for changes (default 1s).
	Poll time.Duration
	// Secure marks the session cookie Secure (serve over TLS).
	Secure bool

	mu       sync.Mutex
	sessions map[string]session
}

// session is a signed-in browser: who it says it is, and the token its
// forms must carry.
type session struct {
	who     string
	csrf    string
	expires time.Time
}

const (
	cookieName = "upshift_session"
	sessionTTL = 12 * time.Hour
)

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
	mux.HandleFunc("POST /runs/{name}/approve", s.action(s.approve))
	mux.HandleFunc("POST /runs/{name}/stop", s.action(s.stop))
	mux.HandleFunc("POST /runs/{name}/rollback", s.action(s.rollback))
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
	Where string
	Who   string
	CSRF  string
	Runs  []*v1alpha1.UpdateRun
	Run   *v1alpha1.UpdateRun
	Error string
}

// authenticate finds the session of a request, or takes its bearer token
// (a client that sends the token itself needs no CSRF token).
func (s *Server) authenticate(r *http.Request) (sess session, bearer, ok bool) {
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		if s.tokenMatches(strings.TrimPrefix(h, "Bearer ")) {
			return session{who: "api"}, true, true
		}
		return session{}, false, false
	}
	c, err := r.Cookie(cookieName)
	if err != nil {
		return session{}, false, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok = s.sessions[c.Value]
	if !ok || time.Now().After(sess.expires) {
		delete(s.sessions, c.Value)
		return session{}, false, false
	}
	return sess, false, true
}

func (s *Server) tokenMatches(t string) bool {
	return s.Token != "" && subtle.ConstantTimeCompare([]byte(t), []byte(s.Token)) == 1
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
// session's CSRF token, or a client with the bearer token.
func (s *Server) action(h func(r *http.Request, name, who string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, bearer, ok := s.authenticate(r)
		if !ok {
			s.render(w, http.StatusUnauthorized, "login.html", view{Where: s.Where, Error: "Sign in to do that: nothing was changed."})
			return
		}
		if !bearer && subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(sess.csrf)) != 1 {
			http.Error(w, "this form is stale or was not sent by the dashboard (CSRF token): nothing was changed; reload the page", http.StatusForbidden)
			return
		}
		name := r.PathValue("name")
		if err := h(r, name, sess.who); err != nil {
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
	s.render(w, http.StatusOK, "login.html", view{Where: s.Where})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	who := strings.TrimSpace(r.PostFormValue("name"))
	if !s.tokenMatches(r.PostFormValue("token")) || who == "" {
		s.render(w, http.StatusUnauthorized, "login.html", view{Where: s.Where, Error: "Wrong token, or no name: both are needed."})
		return
	}
	id, csrf := randomHex(), randomHex()
	s.mu.Lock()
	if s.sessions == nil {
		s.sessions = map[string]session{}
	}
	s.sessions[id] = session{who: who, csrf: csrf, expires: time.Now().Add(sessionTTL)}
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true, Secure: s.Secure, SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL.Seconds())})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		s.mu.Lock()
		sess, ok := s.sessions[c.Value]
		if ok && subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(sess.csrf)) == 1 {
			delete(s.sessions, c.Value)
		}
		s.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Server) runsPage(w http.ResponseWriter, r *http.Request, sess session) {
	runs, err := s.Runs.List()
	v := view{Where: s.Where, Who: sess.who, CSRF: sess.csrf, Runs: newestFirst(runs)}
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
		s.render(w, status, "runs.html", view{Where: s.Where, Who: sess.who, CSRF: sess.csrf, Error: err.Error()})
		return
	}
	s.render(w, http.StatusOK, "run.html", view{Where: s.Where, Who: sess.who, CSRF: sess.csrf, Run: run})
}

func (s *Server) runsEvents(w http.ResponseWriter, r *http.Request, sess session) {
	s.stream(w, r, func() (string, error) {
		runs, err := s.Runs.List()
		if err != nil {
			return "", err
		}
		return s.fragment("runs-table", view{Runs: newestFirst(runs), CSRF: sess.csrf})
	})
}

func (s *Server) runEvents(w http.ResponseWriter, r *http.Request, sess session) {
	name := r.PathValue("name")
	s.stream(w, r, func() (string, error) {
		run, err := s.Runs.Get(name)
		if err != nil {
			return "", err
		}
		return s.fragment("run-live", view{Run: run, CSRF: sess.csrf})
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
	run, err := s.Runs.Get(name)
	if err != nil {
		return err
	}
	if err := engine.CheckApproval(run, stage, task, "", ""); err != nil {
		return err
	}
	key := store.StageKey(stage)
	if task != "" {
		key = store.StageTaskKey(stage, task)
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
