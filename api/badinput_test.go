package api

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestBadInputNeverInternal sends malformed requests to every route, as the platform administrator (who gets
// furthest): none may end in a 5xx, the recovered-panic answer included.
func TestBadInputNeverInternal(t *testing.T) {
	h := testRouter(platformTestRoutes...)
	bodies := []struct{ ct, body string }{
		{"", ""}, {"application/json", "{"}, {"application/json", `{"x":1}`}, {"text/plain", "hello"},
		{"application/json", strings.Repeat("[", 10000)}, {"application/json", "\x00\xff"},
	}
	queries := []string{"", "?limit=-1", "?offset=abc&limit=1e9", "?order=drop+table", "?guids=%zz", "?guids=" + strings.Repeat("x,", 5000)}
	for _, rt := range append(Routes(testDeps()), platformTestRoutes...) {
		paths := []string{fillPath(rt.Path)}
		for seg := range strings.SplitSeq(rt.Path, "/") {
			if strings.HasPrefix(seg, "{") {
				for _, bad := range []string{"x", "%00", strings.Repeat("f", 300), "00000000-0000-0000-0000-00000000000g"} {
					paths = append(paths, fillPath(strings.Replace(rt.Path, seg, bad, 1)))
				}
			}
		}
		for _, p := range paths {
			for _, q := range queries {
				for _, b := range bodies {
					w := do(t, h, rt.Method, p+q, "platform-admin", strings.NewReader(b.body), "Content-Type", b.ct)
					if w.Code >= 500 && !(w.Code == 503 && strings.Contains(rt.Path, "jwks")) {
						t.Errorf("%s %s%s (%q): %d %s", rt.Method, p, q, b.ct, w.Code, w.Body)
					}
				}
			}
		}
	}
}

// FuzzDecode: whatever the body, decode answers with nil or a 4xx *Error, never a panic. go test runs the
// seeds; go test -fuzz=FuzzDecode explores further.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"name":"Kyiv"}`, `{`, `{"name":1}`, `{"name":"a"} x`, `{"colour":1}`, `[]`, `null`, "\xff", `{"count":1e400}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var v branchBody
		err := decode(r, &v)
		if err == nil {
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.Status < 400 || e.Status >= 500 {
			t.Fatalf("decode(%q) = %v", body, err)
		}
	})
}
