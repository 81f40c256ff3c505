package bolt_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
)

var crashIterations = flag.Int("crash.iterations", 25, "kill-and-reopen rounds of TestCrashSafety (or KAZNA_CRASH_ITERATIONS)")

// crashChildEnv names the store file the child process appends to; the child test runs only when it is set.
const crashChildEnv = "KAZNA_BOLT_CRASH_CHILD_DB"

const crashWriters = 6

// crashEvent is event i of append n of writer g: the parent rebuilds it from an acknowledgement to check
// that what was acknowledged is there, byte for byte.
func crashEvent(g, n, i int) eventstore.EventData {
	return eventstore.EventData{
		ID:       uuid.NewSHA1(uuid.NameSpaceOID, []byte(fmt.Sprintf("crash/%d/%d/%d", g, n, i))),
		Type:     "CrashTested",
		Data:     json.RawMessage(fmt.Sprintf(`{"g":%d,"n":%d,"i":%d,"pad":%q}`, g, n, i, strings.Repeat("x", (g*31+n*7+i)%200))),
		Metadata: eventstore.Metadata{Actor: fmt.Sprintf("writer-%d", g), RequestID: fmt.Sprintf("%d-%d", g, n)},
	}
}

// TestCrashChild is the process that TestCrashSafety kills: it appends from several goroutines to several
// streams and prints each append on stdout as soon as it is acknowledged.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("runs only as the child of TestCrashSafety")
	}
	s, err := bolt.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	var out sync.Mutex
	say := func(line string) {
		out.Lock()
		os.Stdout.WriteString(line) // one write per line, so that a kill cannot interleave two lines
		out.Unlock()
	}
	say("ready\n")
	for g := range crashWriters {
		go func() {
			rng := rand.New(rand.NewPCG(uint64(g), uint64(time.Now().UnixNano())))
			next := map[string]uint64{}
			for n := 0; ; n++ {
				k := 1 + rng.IntN(8)
				evs := make([]eventstore.EventData, k)
				for i := range evs {
					evs[i] = crashEvent(g, n, i)
				}
				stream := fmt.Sprintf("crash-%d-%d", g, rng.IntN(2))
				var expected eventstore.ExpectedRevision = eventstore.NoStream{}
				if r, ok := next[stream]; ok {
					expected = eventstore.Exact(r - 1)
				}
				if rng.IntN(4) == 0 {
					stream, expected = "crash-shared", eventstore.Any{}
				}
				r, err := s.Append(context.Background(), stream, expected, evs...)
				if err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					os.Exit(2)
				}
				next[stream] = r.NextExpectedRevision + 1
				say(fmt.Sprintf("ack %s %d %d %d %d %d\n", stream, r.NextExpectedRevision+1-uint64(k), r.NextExpectedRevision, r.Position.Commit, g, n))
			}
		}()
	}
	time.Sleep(20 * time.Second) // the parent kills it long before
	os.Exit(3)
}

type crashAck struct {
	stream      string
	first, last uint64
	pos         uint64
	g, n        int
}

func parseAck(line string) (crashAck, error) {
	var a crashAck
	_, err := fmt.Sscanf(line, "ack %s %d %d %d %d %d", &a.stream, &a.first, &a.last, &a.pos, &a.g, &a.n)
	return a, err
}

// TestCrashSafety kills a process that is appending under load (SIGKILL, at a random moment) and checks the
// file it leaves: every acknowledged append is there with its data, nothing is torn, every stream is
// contiguous with an unbroken hash chain, $all is contiguous from 1, and the store takes appends again.
func TestCrashSafety(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("this is the child")
	}
	iterations := *crashIterations
	if v := os.Getenv("KAZNA_CRASH_ITERATIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("KAZNA_CRASH_ITERATIONS: %v", err)
		}
		iterations = n
	}
	if testing.Short() {
		iterations = min(iterations, 3)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %d iterations", seed, iterations)
	rng := rand.New(rand.NewPCG(seed, 0))
	total := 0
	for i := range iterations {
		total += crashOnce(t, i, time.Duration(20+rng.IntN(281))*time.Millisecond)
		if t.Failed() {
			return
		}
	}
	t.Logf("%d acknowledged appends checked", total)
}

func crashOnce(t *testing.T, iteration int, delay time.Duration) int {
	path := filepath.Join(t.TempDir(), "events.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	lines := make(chan []string, 1)
	go func() {
		var got []string
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			if err != nil { // EOF: a line cut by the kill has no newline and is dropped
				lines <- got
				return
			}
			if line == "ready\n" {
				close(ready)
			}
			got = append(got, line)
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("iteration %d: the child never became ready: %s", iteration, stderr.String())
	}
	time.Sleep(delay)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, stdout)
	got := <-lines
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("iteration %d: the child ended by itself (%v) before the kill: %s", iteration, err, stderr.String())
	}

	var acks []crashAck
	for _, line := range got {
		if strings.HasPrefix(line, "ack ") {
			a, err := parseAck(line)
			if err != nil {
				t.Fatalf("iteration %d: bad line %q: %v", iteration, line, err)
			}
			acks = append(acks, a)
		}
	}
	s, err := bolt.Open(path)
	if err != nil {
		t.Fatalf("iteration %d: reopen after kill at %v: %v", iteration, delay, err)
	}
	defer s.Close()
	all := checkLog(t, s)
	ctx := context.Background()
	for _, a := range acks {
		k := int(a.last - a.first + 1)
		evs, err := s.ReadStream(ctx, a.stream, eventstore.Forwards, a.first, k)
		if err != nil || len(evs) != k {
			t.Fatalf("iteration %d: acknowledged %s %d-%d: read %d events, %v", iteration, a.stream, a.first, a.last, len(evs), err)
		}
		for i, e := range evs {
			want := crashEvent(a.g, a.n, i)
			if e.ID != want.ID || e.Type != want.Type || !bytes.Equal(e.Data, want.Data) || e.Metadata.Actor != want.Metadata.Actor ||
				e.Metadata.RequestID != want.Metadata.RequestID || e.Position.Commit != a.pos-uint64(k-1-i) {
				t.Fatalf("iteration %d: acknowledged %s revision %d differs: got %s %s at %v", iteration, a.stream, a.first+uint64(i), e.ID, e.Data, e.Position)
			}
		}
	}
	// The store carries on: every stream takes an append at its last revision.
	heads := map[string]uint64{}
	for _, e := range all {
		heads[e.Stream] = e.Revision
	}
	for stream, rev := range heads {
		mustAppend(t, s, stream, eventstore.Exact(rev), event("AfterCrash", 0))
	}
	checkLog(t, s)
	if testing.Verbose() {
		t.Logf("iteration %d: killed after %v with %d appends acknowledged, %d events on disk", iteration, delay, len(acks), len(all))
	}
	return len(acks)
}
