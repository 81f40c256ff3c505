package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/eventstore"
)

// Stable machine codes of the error body. Clients branch on these, so a code never changes meaning; add new
// codes rather than reuse one.
const (
	CodeInvalidRequest       = "invalid_request"          // 400: the request as a whole is malformed (bad JSON, trailing data)
	CodeInvalidField         = "invalid_field"            // 400: one named field or parameter has a bad value
	CodeMissingField         = "missing_field"            // 400: one named required field or parameter is absent
	CodeUnknownField         = "unknown_field"            // 400: the body carries a field the endpoint does not take
	CodeUnauthenticated      = "unauthenticated"          // 401: no credentials, or credentials we do not accept
	CodeForbidden            = "forbidden"                // 403: authenticated, but not allowed to do this
	CodeNotFound             = "not_found"                // 404: no such path, or no such record
	CodeMethodNotAllowed     = "method_not_allowed"       // 405: the path exists, the method does not
	CodeConflict             = "conflict"                 // 409: the record changed or already exists
	CodeIdempotencyConflict  = "idempotency_conflict"     // 409: an idempotency key reused with another request
	CodeTooLarge             = "too_large"                // 413: the body is over the limit
	CodeUnsupportedMediaType = "unsupported_media_type"   // 415: the body is not application/json
	CodeUnprocessable        = "unprocessable"            // 422: well-formed, but a business rule refuses it
	CodeLimitExceeded        = "limit_exceeded"           // 422: a limit on outgoing payments refuses it (details say which)
	CodeBalanceAllowed       = "balance_allowed_exceeded" // 422: the receiver's balance would pass its balance_allowed
	CodeRateLimited          = "rate_limited"             // 429: too many requests; retry later
	CodeQuotaExceeded        = "quota_exceeded"           // 429: an application's monthly quota is used up
	CodeInternal             = "internal"                 // 500: our fault; quote the request ID to support
	CodeUnavailable          = "unavailable"              // 503: a dependency did not answer in time; retry later
)

// Error is an error with its HTTP answer. Application code returns one (or wraps one) when it knows what the
// caller did wrong; writeError sends it as is. Message is shown to the caller, so it must never carry
// internals (stream names, SQL, stack traces).
type Error struct {
	Status     int    // HTTP status
	Code       string // stable machine code, one of the Code constants
	Message    string // human-readable, safe to show
	Field      string // the body field or query/path parameter at fault, when there is one
	Permission string // on 403, the permission the caller lacks
	Retryable  bool   // the same request may succeed later (conflict lost, dependency slow)
	Details    any    // machine-readable particulars of a refusal (a limit's window and what is left), sent as "details"
	Err        error  // the cause, for logs and errors.Is; never sent
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Constructors for the errors handlers and the application layer return most often.

// MissingField is a required field or parameter that the request left out.
func MissingField(field string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeMissingField, Field: field, Message: field + " is required"}
}

// InvalidField is a field or parameter whose value is unusable; reason says why in the caller's terms.
func InvalidField(field, reason string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidField, Field: field, Message: field + ": " + reason}
}

// NotFound is a record that does not exist (or that the caller may not know exists).
func NotFound(what string) *Error {
	return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: what + " not found"}
}

// Conflict is a request that clashes with the current state (a name already taken, a record changed).
func Conflict(message string) *Error {
	return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: message}
}

// Unprocessable is a well-formed request that a business rule refuses.
func Unprocessable(message string) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: CodeUnprocessable, Message: message}
}

// Forbidden is an authenticated caller without the right to do this.
func Forbidden(message string) *Error {
	return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: message}
}

// errorRule maps one sentinel error of a lower layer to its answer. Message replaces the error's own text,
// which names internals (stream names, revisions).
type errorRule struct {
	target    error
	status    int
	code      string
	message   string
	retryable bool
}

// errorTable is the one place where errors of the layers below become HTTP answers. Order matters: the first
// rule whose target matches wins, and command.ErrTooManyConflicts also matches
// eventstore.ErrWrongExpectedRevision, so it comes first.
var errorTable = []errorRule{
	{command.ErrTooManyConflicts, http.StatusConflict, CodeConflict,
		"the record kept changing while we tried to write it; retry the request", true},
	{command.ErrIdempotencyConflict, http.StatusConflict, CodeIdempotencyConflict,
		"this idempotency key was already used with a different request", false},
	{eventstore.ErrWrongExpectedRevision, http.StatusConflict, CodeConflict,
		"the record changed since it was read; read it again and retry", true},
	{eventstore.ErrStreamNotFound, http.StatusNotFound, CodeNotFound, "record not found", false},
	{eventstore.ErrClosed, http.StatusServiceUnavailable, CodeUnavailable, "the ledger is shutting down; retry on another node", true},
	{money.ErrNotANumber, http.StatusBadRequest, CodeInvalidField, "amount is not a decimal number", false},
	{money.ErrTooManyDecimals, http.StatusBadRequest, CodeInvalidField, "amount has more decimal places than the asset", false},
	{money.ErrOutOfRange, http.StatusBadRequest, CodeInvalidField, "amount is out of range", false},
	{context.DeadlineExceeded, http.StatusServiceUnavailable, CodeUnavailable, "the ledger did not answer in time; retry the request", true},
	// A cancelled request means the client went away; nobody reads the answer, but the log should not call it
	// a fault of ours.
	{context.Canceled, http.StatusServiceUnavailable, CodeUnavailable, "the request was cancelled", true},
}

// retryAfterSeconds is the pause suggested to clients on a retryable answer. Conflicts clear in milliseconds;
// one second keeps a retry loop from hammering a busy stream.
const retryAfterSeconds = 1

// errorBody is the JSON of every error answer (schema Error in openapi.json).
type errorBody struct {
	Error      string `json:"error"`
	Code       string `json:"code"`
	Field      string `json:"field,omitempty"`
	Permission string `json:"permission,omitempty"`
	Retryable  bool   `json:"retryable,omitempty"`
	RequestID  string `json:"request_id,omitempty"`
	Details    any    `json:"details,omitempty"`
}

// toError turns any error into the answer to send. Unknown errors become 500 internal with a fixed message:
// their text may name internals.
func toError(err error) (e *Error, known bool) {
	var ae *Error
	if errors.As(err, &ae) && ae.Status != 0 && ae.Code != "" {
		return ae, true
	}
	for _, rule := range errorTable {
		if errors.Is(err, rule.target) {
			return &Error{Status: rule.status, Code: rule.code, Message: rule.message, Retryable: rule.retryable, Err: err}, true
		}
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal,
		Message: "internal error; quote the request ID to support", Err: err}, false
}

// writeError is the one function that answers a request with an error. Internal errors are logged with the
// request ID, which the answer carries so that support can find the log line.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	e, known := toError(err)
	reqID := RequestID(r.Context())
	body := errorBody{Error: e.Message, Code: e.Code, Field: e.Field, Permission: e.Permission, Retryable: e.Retryable, Details: e.Details}
	switch {
	case !known || e.Status >= http.StatusInternalServerError:
		body.RequestID = reqID
		level := slog.LevelError
		if errors.Is(err, context.Canceled) {
			level = slog.LevelInfo
		}
		loggerFrom(r.Context()).Log(r.Context(), level, "request failed", "request_id", reqID, "method", r.Method,
			"path", r.URL.Path, "status", e.Status, "err", err)
	}
	if e.Status == http.StatusUnauthorized {
		// RFC 9110 §11.6.1: a 401 names the scheme to use. Bank systems use CX-Authorization with the same
		// kind of token, so one challenge covers both.
		w.Header().Set("WWW-Authenticate", `Bearer realm="kazna"`)
	}
	if e.Retryable {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	}
	writeJSON(w, e.Status, body)
}

// errorf builds an *Error from a status and code with a formatted message; for this package's own checks.
func errorf(status int, code, field, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}
