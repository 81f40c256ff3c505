package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReconcileCommandHelpAndRefusals(t *testing.T) {
	code, out, _ := runCLI(t, "reconcile", "--help")
	if code != 0 || !strings.Contains(out, "-day") || !strings.Contains(out, "KAZNA_RECONCILE_DAY") || !strings.Contains(out, "payment_guid") {
		t.Fatalf("reconcile --help: %d\n%s", code, out)
	}
	if code, out, _ := runCLI(t, "serve", "--help"); code != 0 || !strings.Contains(out, "-reconcile-at") || !strings.Contains(out, "KAZNA_RECONCILE_AT") {
		t.Fatalf("serve --help lacks the schedule: %d\n%s", code, out)
	}
	data := t.TempDir()
	if code, _, errOut := runCLI(t, "reconcile", "--data", data, "--format", "xml"); code != 1 || !strings.Contains(errOut, "--format") {
		t.Fatalf("bad format: %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "reconcile", "--data", data, "--day", "May 1"); code != 1 || !strings.Contains(errOut, "--day") {
		t.Fatalf("bad day: %d %s", code, errOut)
	}
	// A ledger never served has nothing to reconcile: said plainly, nothing created.
	if code, _, errOut := runCLI(t, "reconcile", "--data", data, "--log-level", "error"); code != 1 || !strings.Contains(errOut, "nothing to reconcile") {
		t.Fatalf("empty ledger: %d %s", code, errOut)
	}
}

// TestReconcileAServedLedger: a node serving the demo reconciles on demand through the API (and once, by its
// schedule, the day before); the books of a fresh ledger agree. Then, the node stopped, kazna reconcile runs
// over the same data and exits 0 with the same verdict.
func TestReconcileAServedLedger(t *testing.T) {
	data := t.TempDir()
	runDemoServe(t, data, func(base, _ string) {
		pw, err := os.ReadFile(filepath.Join(data, "admin-password"))
		if err != nil {
			t.Fatal(err)
		}
		tok := login(t, base, "admin", strings.TrimSpace(string(pw)))
		var started struct{ GUID string }
		deadline := time.Now().Add(60 * time.Second)
		for {
			code := sendJSON(t, "POST", base+"/api/v1/reconciliations", tok, `{}`, &started)
			if code == http.StatusAccepted {
				break
			}
			if code != http.StatusConflict || time.Now().After(deadline) { // 409: the scheduled run holds the node
				t.Fatalf("start: %d", code)
			}
			time.Sleep(100 * time.Millisecond)
		}
		var rep struct {
			Status        string
			Reason        string
			Counts        struct{ Accounts int }
			Discrepancies []json.RawMessage
		}
		for {
			if code := getJSON(t, base+"/api/v1/reconciliations/"+started.GUID, tok, &rep); code != 200 && code != 404 {
				t.Fatalf("get: %d", code)
			}
			if rep.Status == "completed" || rep.Status == "failed" || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if rep.Status != "completed" || rep.Discrepancies == nil || len(rep.Discrepancies) != 0 || rep.Counts.Accounts < 2 {
			t.Fatalf("report %+v", rep)
		}
		var list struct {
			Total int
		}
		if code := getJSON(t, base+"/api/v1/reconciliations?status=completed", tok, &list); code != 200 || list.Total < 1 {
			t.Fatalf("list: %d %+v", code, list)
		}
	})
	code, out, errOut := runCLI(t, "reconcile", "--data", data, "--localnet-addr", "127.0.0.1:0", "--log-level", "error")
	if code != 0 || !strings.Contains(out, "the books agree") {
		t.Fatalf("kazna reconcile: %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "reconcile", "--data", data, "--localnet-addr", "127.0.0.1:0", "--log-level", "error", "--format", "json")
	if code != 0 || !strings.Contains(out, `"discrepancies": []`) || !strings.Contains(out, `"status": "completed"`) {
		t.Fatalf("kazna reconcile --format json: %d\n%s", code, out)
	}
}
