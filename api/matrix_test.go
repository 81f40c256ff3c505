package api

import (
	"slices"
	"strings"
	"testing"
)

// matrixCaller is a caller of the route × role matrix and, worked out independently of the middleware, what
// it may do.
type matrixCaller struct {
	token string
	// may reports whether the caller holds the permission, ignoring which bank the path names.
	may func(p Permission) bool
	// bank is the caller's bank; "" for platform staff.
	bank string
	// anyBank: the caller may act within any bank (the platform administrator).
	anyBank bool
}

func matrixCallers() []matrixCaller {
	var out []matrixCaller
	for _, r := range DefaultRoles() {
		role := r
		out = append(out, matrixCaller{token: "bank-a-" + role.Name, bank: bankA, may: func(p Permission) bool {
			if p.Platform || p.KetoKind != KetoKindEndpoint {
				return false
			}
			return role.Name == RoleAdministrator || slices.Contains(role.Permissions, p.Name)
		}})
	}
	return append(out,
		matrixCaller{token: "cx:bank-a-system", bank: bankA, may: func(p Permission) bool { return !p.Platform }},
		matrixCaller{token: "bank-b-admin", bank: bankB, may: func(p Permission) bool { return !p.Platform }},
		matrixCaller{token: "bank-a-nobody", bank: bankA, may: func(Permission) bool { return false }},
		matrixCaller{token: "platform-admin", anyBank: true, may: func(Permission) bool { return true }},
		matrixCaller{token: "platform-clerk", may: func(Permission) bool { return false }},
		matrixCaller{token: "platform-reader", may: func(p Permission) bool {
			return p.Name == PermRBACRead || p.Name == PermCounterpartiesRead || p.Name == PermEmissionConfirm
		}},
	)
}

// fillPath puts bank A in counterparty_guid and a well-formed GUID in every other variable.
func fillPath(tpl string) string {
	var b strings.Builder
	for seg := range strings.SplitSeq(tpl, "/") {
		if b.Len() > 0 || strings.HasPrefix(tpl, "/") {
			b.WriteByte('/')
		}
		switch {
		case seg == "{counterparty_guid}":
			b.WriteString(bankA)
		case strings.HasPrefix(seg, "{"):
			b.WriteString("9d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6")
		default:
			b.WriteString(seg)
		}
	}
	return strings.TrimPrefix(b.String(), "/")
}

// TestRouteRoleMatrix drives every registered route (plus the test-only platform routes) with every default
// role and special caller: allowed means anything but 401/403, refused means a 403 JSON error.
func TestRouteRoleMatrix(t *testing.T) {
	d := testDeps()
	routes := append(Routes(d), platformTestRoutes...)
	h := newRouter(d, routes)
	for _, rt := range routes {
		path := fillPath(rt.Path)
		scoped := strings.HasPrefix(rt.Path, cp+"/")
		if rt.Permission == Public {
			if w := do(t, h, rt.Method, path, "", nil); w.Code == 401 || w.Code == 403 {
				t.Errorf("public %s %s: %d", rt.Method, rt.Path, w.Code)
			}
			continue
		}
		perm, ok := PermissionByName(rt.Permission)
		if !ok {
			t.Errorf("%s %s: unknown permission %q", rt.Method, rt.Path, rt.Permission)
			continue
		}
		errorOf(t, do(t, h, rt.Method, path, "", nil), 401, CodeUnauthenticated)
		for _, c := range matrixCallers() {
			bankOK := !scoped || c.anyBank || c.bank == bankA
			allowed := bankOK && c.may(perm)
			w := do(t, h, rt.Method, path, c.token, nil)
			if allowed {
				if w.Code == 401 || w.Code == 403 {
					t.Errorf("%s %s as %s: %d %s, want allowed", rt.Method, rt.Path, c.token, w.Code, w.Body)
				}
				continue
			}
			if w.Code != 403 {
				t.Errorf("%s %s as %s: %d %s, want 403", rt.Method, rt.Path, c.token, w.Code, w.Body)
				continue
			}
			body := errorOf(t, w, 403, CodeForbidden)
			if bankOK && body.Permission != perm.Name {
				t.Errorf("%s %s as %s: denial %+v does not name %s", rt.Method, rt.Path, c.token, body, perm.Name)
			}
		}
	}
}
