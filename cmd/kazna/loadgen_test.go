package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestLoadgenDrivesAnEmbeddedNode: kazna loadgen starts its own node, signs customers up, issues and spreads
// money, sends transfers and reports them all settled, through the HTTP API alone.
func TestLoadgenDrivesAnEmbeddedNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node and settles transfers on the embedded network")
	}
	code, out, errOut := runCLI(t, "loadgen", "--customers", "3", "--workers", "2", "--duration", "1s",
		"--ledger-close", "100ms", "--stellar-channels", "2", "--log-level", "error")
	if code != 0 {
		t.Fatalf("loadgen exit %d\nout:\n%s\nerr:\n%s", code, out, errOut)
	}
	m := regexp.MustCompile(`settled\s+(\d+)\s.*failed (\d+), still pending (\d+)`).FindStringSubmatch(out)
	c := regexp.MustCompile(`confirmed\s+(\d+)\s`).FindStringSubmatch(out)
	if m == nil || c == nil || !strings.Contains(out, "p99") {
		t.Fatalf("no report in the output:\n%s", out)
	}
	settled, _ := strconv.Atoi(m[1])
	confirmed, _ := strconv.Atoi(c[1])
	if settled == 0 || settled != confirmed || m[2] != "0" || m[3] != "0" {
		t.Fatalf("settled %d of %d confirmed (failed %s, pending %s):\n%s", settled, confirmed, m[2], m[3], out)
	}
}

func TestLoadgenRefusesBadOptions(t *testing.T) {
	if code, _, _ := runCLI(t, "loadgen", "--customers", "1", "--url", "http://127.0.0.1:1"); code == 0 {
		t.Fatal("one customer accepted")
	}
}

func TestLoadgenAmountsKeepTheSignAndRefuseExtraPlaces(t *testing.T) {
	for _, c := range []struct {
		text  string
		minor int64
	}{{"-0.50", -50}, {"12.5", 1250}, {"3", 300}, {"0.01", 1}, {"-12.34", -1234}} {
		got, err := parseMinor(c.text)
		if err != nil || got != c.minor {
			t.Errorf("parseMinor(%q) = %d, %v; want %d", c.text, got, err, c.minor)
		}
	}
	if _, err := parseMinor("1.005"); err == nil {
		t.Error("1.005 read as 2 decimals")
	}
	for minor, want := range map[int64]string{-50: "-0.50", 1250: "12.50", 1: "0.01", -1234: "-12.34"} {
		if got := minorText(minor); got != want {
			t.Errorf("minorText(%d) = %q, want %q", minor, got, want)
		}
	}
}
