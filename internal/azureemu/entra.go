package azureemu

import (
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FederatedAudience is the audience Entra ID expects of a federated
// token (what the workload identity webhook projects).
const FederatedAudience = "api://AzureADTokenExchange"

// Entra emulates the part of Microsoft Entra ID that workload identity
// federation speaks: a tenant's OpenID configuration and its v2.0 token
// endpoint, which takes a federated token as a client assertion (OAuth
// client credentials with an RFC 7523 JWT bearer assertion) and issues an
// access token for ARM. It checks the assertion as Entra does against a
// federated identity credential: signed by the issuer's key, its issuer,
// subject and audience those of the credential, not expired. The Server
// then takes only the access tokens it issued. MSAL speaks to it only
// over TLS. Its errors are Entra's (AADSTS codes in error_description).
type Entra struct {
	// Tenant is the one tenant served.
	Tenant string
	// Federations are the federated identity credentials of app
	// registrations (by client ID).
	Federations []Federation
	// TokenLifetime of an access token (default an hour).
	TokenLifetime time.Duration

	mu     sync.Mutex
	issued map[string]issuedToken
	// Exchanges counts tokens issued; Refused, assertions refused.
	exchanges, refused int
}

// Federation is one federated identity credential: tokens of Issuer for
// Subject, meant for Audience (default FederatedAudience), signed with
// one of Keys, sign in as ClientID.
type Federation struct {
	ClientID, Issuer, Subject, Audience string
	Keys                                []crypto.PublicKey
}

type issuedToken struct {
	clientID string
	expires  time.Time
}

// ServeHTTP serves /{tenant}/v2.0/.well-known/openid-configuration and
// /{tenant}/oauth2/v2.0/token.
func (e *Entra) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	seg := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(seg) < 3 || !strings.EqualFold(seg[0], e.Tenant) {
		entraError(w, http.StatusBadRequest, "invalid_tenant", "AADSTS90002: Tenant '%s' not found.", seg[0])
		return
	}
	base := "https://" + r.Host + "/" + e.Tenant
	switch rest := strings.Join(seg[1:], "/"); {
	case r.Method == http.MethodGet && rest == "v2.0/.well-known/openid-configuration":
		writeJSON(w, http.StatusOK, map[string]any{
			"token_endpoint":                        base + "/oauth2/v2.0/token",
			"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
			"issuer":                                base + "/v2.0",
			"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		})
	case r.Method == http.MethodPost && rest == "oauth2/v2.0/token":
		e.token(w, r)
	default:
		entraError(w, http.StatusNotFound, "invalid_request", "AADSTS900561: The endpoint only accepts POST requests to the token endpoint.")
	}
}

func (e *Entra) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		entraError(w, http.StatusBadRequest, "invalid_request", "AADSTS900144: The request body must contain the following parameter: 'grant_type'.")
		return
	}
	f := r.PostForm
	switch {
	case f.Get("grant_type") != "client_credentials":
		entraError(w, http.StatusBadRequest, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type '%s'.", f.Get("grant_type"))
		return
	case f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" || f.Get("client_assertion") == "":
		entraError(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	case !slices.ContainsFunc(strings.Fields(f.Get("scope")), func(s string) bool { return strings.HasSuffix(s, "/.default") }):
		entraError(w, http.StatusBadRequest, "invalid_scope", "AADSTS1002012: The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.", f.Get("scope"))
		return
	}
	clientID := f.Get("client_id")
	if err := e.checkAssertion(clientID, f.Get("client_assertion")); err != nil {
		e.mu.Lock()
		e.refused++
		e.mu.Unlock()
		entraError(w, http.StatusUnauthorized, "invalid_client", "%s", err.Error())
		return
	}
	lifetime := e.TokenLifetime
	if lifetime <= 0 {
		lifetime = time.Hour
	}
	access := "entra-emulator-" + randomID() + randomID()
	e.mu.Lock()
	if e.issued == nil {
		e.issued = map[string]issuedToken{}
	}
	e.issued[access] = issuedToken{clientID: clientID, expires: time.Now().Add(lifetime)}
	e.exchanges++
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": int(lifetime.Seconds()), "ext_expires_in": int(lifetime.Seconds()), "access_token": access})
}

// checkAssertion checks a federated token against the client's
// federated identity credentials.
func (e *Entra) checkAssertion(clientID, assertion string) error {
	var fed []Federation
	for _, f := range e.Federations {
		if f.ClientID == clientID {
			fed = append(fed, f)
		}
	}
	if len(fed) == 0 {
		return aadErrorf("AADSTS700016: Application with identifier '%s' was not found in the directory '%s'.", clientID, e.Tenant)
	}
	var claims jwt.RegisteredClaims
	unverified, _, err := jwt.NewParser().ParseUnverified(assertion, &claims)
	if err != nil || unverified == nil {
		return aadError("AADSTS50027: JWT token is invalid or malformed.")
	}
	for _, f := range fed {
		if claims.Issuer != f.Issuer || claims.Subject != f.Subject {
			continue
		}
		aud := f.Audience
		if aud == "" {
			aud = FederatedAudience
		}
		for _, key := range f.Keys {
			_, err := jwt.ParseWithClaims(assertion, &jwt.RegisteredClaims{}, func(*jwt.Token) (any, error) { return key, nil },
				jwt.WithValidMethods([]string{"RS256", "ES256"}), jwt.WithIssuer(f.Issuer), jwt.WithSubject(f.Subject), jwt.WithAudience(aud), jwt.WithExpirationRequired())
			if err == nil {
				return nil
			}
			if strings.Contains(err.Error(), "expired") {
				return aadError("AADSTS700024: Client assertion is not within its valid time range.")
			}
			if strings.Contains(err.Error(), "audience") {
				return aadErrorf("AADSTS700212: No matching federated identity record found for presented assertion audience '%v'.", claims.Audience)
			}
		}
		return aadError("AADSTS50013: Assertion failed signature validation.")
	}
	return aadErrorf("AADSTS700213: No matching federated identity record found for presented assertion subject '%s'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion.", claims.Subject)
}

// aadError is Entra ID's error_description, as Entra words it.
type aadError string

func (e aadError) Error() string { return string(e) }

func aadErrorf(format string, args ...any) error { return aadError(fmt.Sprintf(format, args...)) }

// Check says whether an access token is one this tenant issued and has
// not expired, and for which client.
func (e *Entra) Check(access string) (clientID string, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.issued[access]
	if !ok || time.Now().After(t.expires) {
		return "", false
	}
	return t.clientID, true
}

// Counts are the tokens issued and the assertions refused so far.
func (e *Entra) Counts() (issued, refused int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.exchanges, e.refused
}

func entraError(w http.ResponseWriter, status int, code, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"error": code, "error_description": fmt.Sprintf(format, args...), "error_codes": []int{}, "timestamp": time.Now().UTC().Format("2006-01-02 15:04:05Z"),
	})
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
