package api

import (
	"errors"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/mux"
)

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	q, err := queryValues(httptest.NewRequest("GET", "/?"+raw, nil))
	if err != nil {
		t.Fatalf("query %q: %v", raw, err)
	}
	return q
}

// wantField checks that err is a 400 naming field.
func wantField(t *testing.T, err error, code, field string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Status != 400 || e.Code != code || e.Field != field {
		t.Fatalf("err = %#v, want 400 %s naming %q", err, code, field)
	}
}

func TestPageParams(t *testing.T) {
	p, err := pageParams(mustQuery(t, ""))
	if err != nil || p != (Page{0, 20}) {
		t.Fatalf("defaults = %+v, %v", p, err)
	}
	p, err = pageParams(mustQuery(t, "offset=40&limit=1000"))
	if err != nil || p != (Page{40, 1000}) {
		t.Fatalf("= %+v, %v", p, err)
	}
	for raw, field := range map[string]string{
		"offset=-1": "offset", "offset=abc": "offset", "offset=1e3": "offset", "offset=99999999999999999999": "offset",
		"limit=0": "limit", "limit=1001": "limit", "limit=-5": "limit", "limit=ten": "limit", "limit=": "limit",
		"limit=1&limit=2": "limit",
	} {
		_, err := pageParams(mustQuery(t, raw))
		wantField(t, err, CodeInvalidField, field)
	}
}

func TestMalformedQueryString(t *testing.T) {
	_, err := queryValues(httptest.NewRequest("GET", "/?guids=%zz", nil))
	var e *Error
	if !errors.As(err, &e) || e.Status != 400 {
		t.Fatalf("err = %v", err)
	}
}

func TestOrderParam(t *testing.T) {
	allowed := []string{"created_at", "name"}
	def := Order{Field: "created_at", Desc: true}
	for raw, want := range map[string]Order{
		"":                  def,
		"order=name":        {Field: "name"},
		"order=-created_at": {Field: "created_at", Desc: true},
		"ordering=-name":    {Field: "name", Desc: true},
		"ordering=":         def,
	} {
		got, err := orderParam(mustQuery(t, raw), def, allowed...)
		if err != nil || got != want {
			t.Errorf("%q = %+v, %v; want %+v", raw, got, err, want)
		}
	}
	for raw, field := range map[string]string{
		"order=balance": "order", "order=--name": "order", "ordering=password": "ordering",
		"order=name&ordering=name": "ordering", "order=name&order=-name": "order",
	} {
		_, err := orderParam(mustQuery(t, raw), def, allowed...)
		wantField(t, err, CodeInvalidField, field)
	}
}

func TestListParams(t *testing.T) {
	g1, g2 := "3f2c1a9e-8d4b-4c7e-9a1f-2b6d5e8c0a17", "7F3D2C1B-9E8A-4B6C-8D5E-2A1F0E9D8C02"
	got, err := guidListParam(mustQuery(t, "guids="+g1+"&guids="+g2+","+g1+",,"), "guids")
	want := []string{g1, "7f3d2c1b-9e8a-4b6c-8d5e-2a1f0e9d8c02", g1}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("= %v, %v", got, err)
	}
	names, err := listParam(mustQuery(t, "names=Kyiv,Lviv&names=Odesa"), "names")
	if err != nil || !slices.Equal(names, []string{"Kyiv", "Lviv", "Odesa"}) {
		t.Fatalf("= %v, %v", names, err)
	}
	for _, raw := range []string{"guids=nope", "guids=" + g1 + ",123", "guids={" + g1 + "}", "guids=urn:uuid:" + g1,
		"guids=3f2c1a9e8d4b4c7e9a1f2b6d5e8c0a17"} {
		_, err := guidListParam(mustQuery(t, raw), "guids")
		wantField(t, err, CodeInvalidField, "guids")
	}
	many := url.Values{"names": make([]string, maxListValues+1)}
	for i := range many["names"] {
		many["names"][i] = "x"
	}
	_, err = listParam(many, "names")
	wantField(t, err, CodeInvalidField, "names")
}

func TestScalarParams(t *testing.T) {
	tm, ok, err := timeParam(mustQuery(t, "from=2026-05-01T10:00:00%2B03:00"), "from")
	if err != nil || !ok || !tm.Equal(time.Date(2026, 5, 1, 7, 0, 0, 0, time.UTC)) {
		t.Fatalf("time = %v %v %v", tm, ok, err)
	}
	if _, ok, err := timeParam(mustQuery(t, ""), "from"); ok || err != nil {
		t.Fatalf("absent time = %v %v", ok, err)
	}
	for _, raw := range []string{"from=2026-05-01", "from=yesterday", "from=1714550400"} {
		_, _, err := timeParam(mustQuery(t, raw), "from")
		wantField(t, err, CodeInvalidField, "from")
	}
	for raw, want := range map[string]bool{"d=true": true, "d=false": false, "d=1": true, "d=FALSE": false} {
		v, ok, err := boolParam(mustQuery(t, raw), "d")
		if err != nil || !ok || v != want {
			t.Errorf("%q = %v %v %v", raw, v, ok, err)
		}
	}
	for _, raw := range []string{"d=yes", "d=", "d=2"} {
		_, _, err := boolParam(mustQuery(t, raw), "d")
		wantField(t, err, CodeInvalidField, "d")
	}
	g, ok, err := guidParam(mustQuery(t, "customer_guid=3F2C1A9E-8D4B-4C7E-9A1F-2B6D5E8C0A17"), "customer_guid")
	if err != nil || !ok || g != "3f2c1a9e-8d4b-4c7e-9a1f-2b6d5e8c0a17" {
		t.Fatalf("guid = %v %v %v", g, ok, err)
	}
	_, _, err = guidParam(mustQuery(t, "customer_guid=42"), "customer_guid")
	wantField(t, err, CodeInvalidField, "customer_guid")
}

func TestPathGUID(t *testing.T) {
	r := mux.SetURLVars(httptest.NewRequest("GET", "/", nil), map[string]string{"branch_guid": "not-a-guid"})
	_, err := pathGUID(r, "branch_guid")
	wantField(t, err, CodeInvalidField, "branch_guid")
	r = mux.SetURLVars(r, map[string]string{"branch_guid": bankA})
	if g, err := pathGUID(r, "branch_guid"); err != nil || g != bankA {
		t.Fatalf("= %v %v", g, err)
	}
}
