package api

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

type openapiDoc struct {
	OpenAPI    string                                 `json:"openapi"`
	Paths      map[string]map[string]openapiOperation `json:"paths"`
	Components struct {
		Schemas         map[string]json.RawMessage `json:"schemas"`
		Parameters      map[string]json.RawMessage `json:"parameters"`
		Responses       map[string]json.RawMessage `json:"responses"`
		SecuritySchemes map[string]json.RawMessage `json:"securitySchemes"`
	} `json:"components"`
}

type openapiOperation struct {
	OperationID string                     `json:"operationId"`
	Permission  string                     `json:"x-kazna-permission"`
	Status      string                     `json:"x-kazna-status"`
	Security    *[]map[string][]string     `json:"security"`
	Responses   map[string]json.RawMessage `json:"responses"`
}

func loadOpenAPI(t *testing.T) openapiDoc {
	t.Helper()
	var doc openapiDoc
	if err := json.Unmarshal(openapiDocument, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		t.Fatalf("openapi %q, want 3.0.x", doc.OpenAPI)
	}
	return doc
}

// TestOpenAPICoversRoutes: every registered route is documented with its permission, and every documented
// operation not marked planned is registered (a planned one must not be, or the marker is stale).
func TestOpenAPICoversRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	registered := map[string]Route{}
	for _, rt := range Routes(Deps{}) {
		key := rt.Method + " " + rt.Path
		if _, dup := registered[key]; dup {
			t.Errorf("route %s registered twice", key)
		}
		registered[key] = rt
		op, ok := doc.Paths[rt.Path][strings.ToLower(rt.Method)]
		if !ok {
			t.Errorf("route %s is not in openapi.json", key)
			continue
		}
		if op.Permission != rt.Permission {
			t.Errorf("%s: openapi permission %q, route %q", key, op.Permission, rt.Permission)
		}
	}
	ids := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			key := strings.ToUpper(method) + " " + path
			_, isRouted := registered[key]
			switch {
			case op.Status == "" && !isRouted:
				t.Errorf("%s is documented as served but not registered (mark it x-kazna-status: planned?)", key)
			case op.Status == "planned" && isRouted:
				t.Errorf("%s is registered but still marked planned", key)
			case op.Status != "" && op.Status != "planned":
				t.Errorf("%s: unknown x-kazna-status %q", key, op.Status)
			}
			if op.OperationID == "" || ids[op.OperationID] {
				t.Errorf("%s: operationId %q missing or repeated", key, op.OperationID)
			}
			ids[op.OperationID] = true
			if op.Permission != Public {
				if _, ok := PermissionByName(op.Permission); !ok {
					t.Errorf("%s: x-kazna-permission %q is not in the catalogue", key, op.Permission)
				}
				for _, code := range []string{"401", "403"} {
					if _, ok := op.Responses[code]; !ok {
						t.Errorf("%s: no %s response", key, code)
					}
				}
			} else if op.Security == nil || len(*op.Security) != 0 {
				t.Errorf("%s: public operation must declare security: []", key)
			}
		}
	}
}

// TestOpenAPIMatchesEndpointCatalogue: each documented operation is an endpoint of the catalogue with the same
// permission, and each route too, so the document, the router and the roles agree.
func TestOpenAPIMatchesEndpointCatalogue(t *testing.T) {
	doc := loadOpenAPI(t)
	perms := map[string]string{}
	for _, e := range Endpoints() {
		key := e.Method + " " + e.Path
		if _, dup := perms[key]; dup {
			t.Errorf("endpoint %s listed twice", key)
		}
		perms[key] = e.Permission
	}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			key := strings.ToUpper(method) + " " + path
			if p, ok := perms[key]; !ok || p != op.Permission {
				t.Errorf("%s: documented with %q, endpoint catalogue has %q (listed %v)", key, op.Permission, p, ok)
			}
		}
	}
	for _, rt := range Routes(Deps{}) {
		if p := perms[rt.Method+" "+rt.Path]; p != rt.Permission {
			t.Errorf("route %s %s has permission %q, endpoint catalogue %q", rt.Method, rt.Path, rt.Permission, p)
		}
	}
}

// TestOpenAPIReferencesResolve: every $ref names a component that exists, and the shared error schema and
// both security schemes are there.
func TestOpenAPIReferencesResolve(t *testing.T) {
	doc := loadOpenAPI(t)
	var raw any
	if err := json.Unmarshal(openapiDocument, &raw); err != nil {
		t.Fatal(err)
	}
	sections := map[string]map[string]json.RawMessage{
		"schemas": doc.Components.Schemas, "parameters": doc.Components.Parameters, "responses": doc.Components.Responses,
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
				if len(parts) != 2 || sections[parts[0]][parts[1]] == nil {
					t.Errorf("unresolved $ref %q", ref)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(raw)
	if doc.Components.Schemas["Error"] == nil {
		t.Error("no Error schema")
	}
	var errSchema struct {
		Required   []string                   `json:"required"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	_ = json.Unmarshal(doc.Components.Schemas["Error"], &errSchema)
	if !slices.Equal(errSchema.Required, []string{"error", "code"}) {
		t.Errorf("Error requires %v", errSchema.Required)
	}
	for _, f := range []string{"error", "code", "field", "permission", "retryable", "request_id"} {
		if errSchema.Properties[f] == nil {
			t.Errorf("Error schema lacks %s, which errorBody sends", f)
		}
	}
	for _, s := range []string{"bearerAuth", "bankJWT"} {
		if doc.Components.SecuritySchemes[s] == nil {
			t.Errorf("no security scheme %s", s)
		}
	}
}

// TestErrorCodesAreDocumented: every machine code an answer can carry is in the Error schema's enum.
func TestErrorCodesAreDocumented(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Enum []string `json:"enum"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openapiDocument, &doc); err != nil {
		t.Fatal(err)
	}
	enum := doc.Components.Schemas["Error"].Properties["code"].Enum
	for _, c := range []string{CodeInvalidRequest, CodeInsufficientFunds, CodeRouteNotAllowed, CodeBankRefused, CodeIdempotencyConflict,
		CodeNotFound, CodeConflict, CodeUnprocessable, CodeUnavailable, CodeProtectedRole} {
		if !slices.Contains(enum, c) {
			t.Errorf("code %q is not in the Error schema's enum", c)
		}
	}
}
