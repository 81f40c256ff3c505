package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
)

// maxBodyBytes bounds a request body. The largest body the guide defines (a customer, a payment, a JWK) is
// a few kilobytes; 1 MiB leaves room without letting one request hold much memory.
const maxBodyBytes = 1 << 20

// validator is implemented by request bodies that have required fields or rules on single fields. decode
// calls Validate after the JSON is read; it returns MissingField or InvalidField for the first problem.
type validator interface {
	Validate() error
}

// decode reads the JSON object in r's body into v (a pointer to a struct). It refuses, each with a 4xx that
// says what is wrong: a content type other than application/json, a body over maxBodyBytes, invalid JSON
// (with the byte position), anything but an object, fields the struct does not have (named), a value of the
// wrong type (named), data after the object, and whatever v's Validate refuses.
func decode(r *http.Request, v any) error {
	if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	if r.Body == nil {
		return errorf(http.StatusBadRequest, CodeInvalidRequest, "", "request body is empty; send a JSON object")
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return errorf(http.StatusBadRequest, CodeInvalidRequest, "", "could not read the request body")
	}
	if len(data) > maxBodyBytes {
		return errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "", "request body is over %d bytes", maxBodyBytes)
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return errorf(http.StatusBadRequest, CodeInvalidRequest, "", "request body is empty; send a JSON object")
	}
	if trimmed[0] != '{' {
		return errorf(http.StatusBadRequest, CodeInvalidRequest, "", "request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, len(data))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errorf(http.StatusBadRequest, CodeInvalidRequest, "",
			"unexpected data after the JSON object at byte %d", dec.InputOffset())
	}
	if val, ok := v.(validator); ok {
		return val.Validate()
	}
	return nil
}

func checkJSONContentType(header string) error {
	if header == "" {
		return errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "",
			"Content-Type is missing; send application/json")
	}
	mediaType, _, err := mime.ParseMediaType(header)
	if err != nil || mediaType != "application/json" {
		return errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "",
			"Content-Type must be application/json")
	}
	return nil
}

// decodeError turns encoding/json's errors into answers that name the position or the field, without
// echoing Go type names the caller cannot act on.
func decodeError(err error, size int) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return errorf(http.StatusBadRequest, CodeInvalidRequest, "", "invalid JSON at byte %d", syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(http.StatusBadRequest, CodeInvalidRequest, "", "invalid JSON: the body ends at byte %d before the object does", size)
	case errors.As(err, &typ) && typ.Type != nil:
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return errorf(http.StatusBadRequest, CodeInvalidField, field, "%s must be %s", field, jsonKind(typ.Type.Kind().String()))
	}
	// encoding/json reports an unknown field only as text: `json: unknown field "name"`. The name is the
	// last quoted word, which also holds for the wording of encoding/json/v2.
	if msg := err.Error(); strings.Contains(msg, "unknown") {
		if end := strings.LastIndexByte(msg, '"'); end > 0 {
			if start := strings.LastIndexByte(msg[:end], '"'); start >= 0 {
				name := msg[start+1 : end]
				return errorf(http.StatusBadRequest, CodeUnknownField, name, "unknown field %q", name)
			}
		}
	}
	return errorf(http.StatusBadRequest, CodeInvalidRequest, "", "invalid JSON body")
}

// jsonKind names a Go kind as the JSON type a caller must send.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	}
	return "of another type"
}

// requireString is a helper for Validate methods: a required text field that is absent or blank.
func requireString(field, value string) error {
	if strings.TrimSpace(value) == "" {
		return MissingField(field)
	}
	return nil
}

// firstError returns the first non-nil error, so that Validate methods read as a list of checks in field order.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// writeJSON is the one JSON encoder of the API. It encodes before writing, so that a value that cannot be
// encoded becomes a 500 rather than half a body under a 200.
func writeJSON(w http.ResponseWriter, status int, body any) {
	data, err := json.Marshal(body)
	if err != nil {
		slog.Error("encode response", "err", err)
		status = http.StatusInternalServerError
		data = []byte(fmt.Sprintf(`{"error":"internal error","code":%q}`, CodeInternal))
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}
