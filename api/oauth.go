package api

import (
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/kazna-ledger/kazna/app"
)

// The token endpoint of the client credentials grant (RFC 6749 §4.4). Its errors are OAuth's (§5.2:
// {"error": "invalid_client", "error_description": …}), which OAuth client libraries read, not Kazna's error
// body; a failure of Kazna itself (5xx) keeps Kazna's.

const (
	// maxTokenRequestBytes bounds the form: an id, a secret, a scope.
	maxTokenRequestBytes   = 4 << 10
	grantClientCredentials = "client_credentials"
)

// oauthError is an error answer of RFC 6749 §5.2.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// tokenResponse is the answer of RFC 6749 §5.1.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
}

type oauthHandlers struct{ svc ApplicationService }

func writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	if status == http.StatusUnauthorized {
		// §5.2: a 401 names the scheme to authenticate with; HTTP Basic is the one §2.3.1 asks servers to support.
		w.Header().Set("WWW-Authenticate", `Basic realm="kazna", charset="UTF-8"`)
	}
	writeJSON(w, status, oauthError{Error: code, Description: description})
}

// token answers POST /api/v1/oauth/token.
func (h oauthHandlers) token(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "application/x-www-form-urlencoded" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "send the parameters as application/x-www-form-urlencoded")
		return nil
	}
	if r.URL.RawQuery != "" {
		// §3.2: the token endpoint takes its parameters in the body; a secret in a URL ends up in logs.
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "send the parameters in the body, not in the URL")
		return nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenRequestBytes)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "the body is not a form of at most 4 KiB")
		return nil
	}
	form := r.PostForm
	for name, values := range form {
		if len(values) > 1 {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "parameter "+name+" is repeated")
			return nil
		}
	}
	switch grant := form.Get("grant_type"); grant {
	case "":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "grant_type is required")
		return nil
	case grantClientCredentials:
	default:
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "only grant_type=client_credentials is supported")
		return nil
	}
	id, secret, err := clientCredentials(r, form)
	if err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return nil
	}
	if id == "" || secret == "" {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client",
			"authenticate the client with HTTP Basic (client_id:client_secret) or the client_id and client_secret parameters")
		return nil
	}
	if h.svc == nil {
		return unavailable("the token endpoint")
	}
	tok, err := h.svc.IssueToken(r.Context(), id, secret, form.Get("scope"))
	switch {
	case errors.Is(err, app.ErrInvalidClient):
		loggerFrom(r.Context()).Info("client authentication refused", "request_id", RequestID(r.Context()), "client_id", cleanClientID(id))
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return nil
	case errors.Is(err, app.ErrInvalidScope):
		writeOAuthError(w, http.StatusBadRequest, "invalid_scope", "the scope names a product the application is not subscribed to")
		return nil
	case err != nil:
		return err
	}
	writeJSON(w, http.StatusOK, tokenResponse{AccessToken: tok.AccessToken, TokenType: "Bearer", ExpiresIn: int64(tok.ExpiresIn.Seconds()), Scope: tok.Scope})
	return nil
}

// clientCredentials reads the client's id and secret from HTTP Basic (RFC 6749 §2.3.1: each form-urlencoded
// before Basic encoding) or from the body. Using both is an error (§2.3).
func clientCredentials(r *http.Request, form url.Values) (id, secret string, err error) {
	user, pass, basic := r.BasicAuth()
	_, inForm := form["client_secret"]
	if basic {
		if inForm {
			return "", "", errors.New("authenticate the client one way: HTTP Basic or the client_secret parameter, not both")
		}
		if id, err = url.QueryUnescape(user); err != nil {
			return "", "", errors.New("the Basic user is not form-urlencoded")
		}
		if secret, err = url.QueryUnescape(pass); err != nil {
			return "", "", errors.New("the Basic password is not form-urlencoded")
		}
		if fid := form.Get("client_id"); fid != "" && fid != id {
			return "", "", errors.New("client_id differs from the Basic user")
		}
		return id, secret, nil
	}
	if authz := r.Header.Get("Authorization"); authz != "" {
		return "", "", errors.New("the Authorization header must be HTTP Basic with the client's credentials")
	}
	return form.Get("client_id"), form.Get("client_secret"), nil
}

// cleanClientID keeps a presented client_id safe to log: a GUID's characters, bounded.
func cleanClientID(s string) string {
	if len(s) > 36 {
		s = s[:36]
	}
	return strings.Map(func(r rune) rune {
		if r == '-' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'f') || (r >= 'A' && r <= 'F') {
			return r
		}
		return '?'
	}, s)
}
