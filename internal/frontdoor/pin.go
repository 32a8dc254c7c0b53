package frontdoor

import (
	"crypto/subtle"
	"net"
	"net/http"
)

// PinSecretHeader carries the pin secret (pinSecretFile) on a pinned
// request.
const PinSecretHeader = "X-Upshift-Pin-Secret"

// pinned returns the backend a request may pin itself to, or "" when the
// request is routed by weight: first the route's header routes, whose
// header and value the route's owner chose; then the pin header. A pin
// header counts only on a route with allowPin,
// and only with the pin secret, or from loopback on a route that also
// says pinFromLoopback; any other pin header is ignored (the request is
// routed by weight, as for any user), so a client can never reach a
// backend the weights keep it from.
func (g *Gateway) pinned(st *routeState, r *http.Request) string {
	// A header route the route's owner wrote needs no secret.
	for _, hr := range st.spec.HeaderRoutes {
		if v, ok := r.Header[http.CanonicalHeaderKey(hr.Header)]; ok && len(v) == 1 && v[0] == hr.Value {
			return hr.Backend
		}
	}
	name := r.Header.Get(PinHeader)
	if name == "" {
		return ""
	}
	if !st.spec.AllowPin || !g.mayPin(st.spec, r) {
		g.pinsIgnored.WithLabelValues(st.spec.Host).Inc()
		return ""
	}
	return name
}

func (g *Gateway) mayPin(rt Route, r *http.Request) bool {
	if rt.PinFromLoopback {
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
				return true
			}
		}
	}
	if g.pinSecret == "" {
		return false
	}
	got := r.Header.Get(PinSecretHeader)
	return subtle.ConstantTimeCompare([]byte(got), []byte(g.pinSecret)) == 1
}
