package api

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

type branchBody struct {
	Name      string `json:"name"`
	IsDeleted *bool  `json:"is_deleted"`
	Count     int    `json:"count"`
}

func (b branchBody) Validate() error { return firstError(requireString("name", b.Name)) }

func TestDecode(t *testing.T) {
	cases := []struct {
		name, ct, body string
		status         int
		code, field    string
		msg            string // a part of the message
	}{
		{"ok", "application/json; charset=utf-8", `{"name":"Kyiv","count":2}`, 0, "", "", ""},
		{"unknown field", "application/json", `{"name":"Kyiv","colour":"red"}`, 400, CodeUnknownField, "colour", "colour"},
		{"missing field", "application/json", `{"count":1}`, 400, CodeMissingField, "name", "name"},
		{"blank field", "application/json", `{"name":"  "}`, 400, CodeMissingField, "name", "name"},
		{"invalid JSON", "application/json", `{"name": Kyiv}`, 400, CodeInvalidRequest, "", "byte 10"},
		{"truncated JSON", "application/json", `{"name":"Kyiv"`, 400, CodeInvalidRequest, "", "ends"},
		{"trailing data", "application/json", `{"name":"Kyiv"} {"name":"Lviv"}`, 400, CodeInvalidRequest, "", "after"},
		{"wrong type", "application/json", `{"name":"Kyiv","count":"two"}`, 400, CodeInvalidField, "count", "integer"},
		{"not an object", "application/json", `["Kyiv"]`, 400, CodeInvalidRequest, "", "object"},
		{"null", "application/json", `null`, 400, CodeInvalidRequest, "", "object"},
		{"empty", "application/json", ``, 400, CodeInvalidRequest, "", "empty"},
		{"no content type", "", `{"name":"Kyiv"}`, 415, CodeUnsupportedMediaType, "", "Content-Type"},
		{"wrong content type", "text/plain", `{"name":"Kyiv"}`, 415, CodeUnsupportedMediaType, "", "application/json"},
		{"bad content type", "application/json; =", `{"name":"Kyiv"}`, 415, CodeUnsupportedMediaType, "", ""},
		{"too large", "application/json", `{"name":"` + strings.Repeat("a", maxBodyBytes) + `"}`, 413, CodeTooLarge, "", "bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(c.body))
			if c.ct != "" {
				r.Header.Set("Content-Type", c.ct)
			}
			var v branchBody
			err := decode(r, &v)
			if c.status == 0 {
				if err != nil || v.Name != "Kyiv" || v.Count != 2 {
					t.Fatalf("decode = %v, %+v", err, v)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("decode = %v, want *Error", err)
			}
			if e.Status != c.status || e.Code != c.code || e.Field != c.field || !strings.Contains(e.Message, c.msg) {
				t.Fatalf("decode = %+v, want %d %s field %q message with %q", e, c.status, c.code, c.field, c.msg)
			}
		})
	}
}

func TestDecodeBodyExactlyAtLimit(t *testing.T) {
	pad := maxBodyBytes - len(`{"name":"Kyiv"}`)
	body := `{"name":"Kyiv"}` + strings.Repeat(" ", pad)
	r := httptest.NewRequest("POST", "/", bytes.NewReader([]byte(body)))
	r.Header.Set("Content-Type", "application/json")
	var v branchBody
	if err := decode(r, &v); err != nil {
		t.Fatalf("body of exactly %d bytes: %v", maxBodyBytes, err)
	}
}

func TestWriteJSONUnencodable(t *testing.T) {
	w := httptest.NewRecorder()
	writeJSON(w, 200, map[string]any{"f": func() {}})
	if w.Code != 500 || !strings.Contains(w.Body.String(), CodeInternal) {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
}
