package dashboard

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// A session is a signed cookie, not server memory: any replica holding
// the same key checks it, so a browser sent to another replica by the
// Service stays signed in and its forms' CSRF tokens still match. It
// carries who signed in and until when; no credential.
type session struct {
	Identity
	ID      string `json:"s"`
	Expires int64  `json:"e"`
}

// sessionVersion prefixes cookies, so that a format change signs everyone
// out rather than misreading a cookie.
const sessionVersion = "v1"

func (s *Server) key() []byte {
	s.keyOnce.Do(func() {
		if len(s.SessionKey) == 0 {
			// One process: its sessions end with it.
			s.SessionKey = []byte(randomHex())
		}
	})
	return s.SessionKey
}

func (s *Server) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, s.key())
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// seal signs a session into a cookie value.
func (s *Server) seal(sess session) string {
	body, _ := json.Marshal(sess)
	payload := base64.RawURLEncoding.EncodeToString(body)
	return sessionVersion + "." + payload + "." + base64.RawURLEncoding.EncodeToString(s.mac(sessionVersion, payload))
}

// open checks a cookie value's signature and expiry.
func (s *Server) open(value string, now time.Time) (session, error) {
	version, rest, _ := strings.Cut(value, ".")
	payload, sig, ok := strings.Cut(rest, ".")
	if version != sessionVersion || !ok {
		return session{}, errors.New("not a session")
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(sessionVersion, payload)) {
		return session{}, errors.New("bad signature")
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return session{}, err
	}
	var sess session
	if err := json.Unmarshal(body, &sess); err != nil {
		return session{}, err
	}
	if now.Unix() >= sess.Expires || sess.Name == "" {
		return session{}, errors.New("expired")
	}
	return sess, nil
}

// csrf is the token a session's forms carry: derived from the session,
// so every replica computes the same one.
func (s *Server) csrf(sess session) string {
	return hex.EncodeToString(s.mac("csrf", sess.ID))
}
