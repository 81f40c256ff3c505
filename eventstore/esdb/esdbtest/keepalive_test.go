package esdbtest_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/kazna-ledger/kazna/eventstore/esdb/esdbtest"
)

// TestKeepalivePolicyAllowsIdlePings proves the enforcement policy without waiting the
// 30-40 s it takes the real client (which cannot ping more often than every 10 s) to
// be cut off. It speaks raw HTTP/2 and pings an idle connection every 1.2 s. grpc-go's
// default policy (MinTime 5 min, no pings without streams) answers the fourth ping
// with GOAWAY "too_many_pings"; the policy the real client needs accepts them all.
func TestKeepalivePolicyAllowsIdlePings(t *testing.T) {
	t.Parallel()
	s := esdbtest.StartT(t)
	addr := strings.TrimSuffix(strings.TrimPrefix(s.URL(), "kurrentdb://"), "?tls=false")
	conn, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}

	// Frames are read on one goroutine; writes stay on this one.
	type result struct {
		goAway *http2.GoAwayFrame
		ack    bool
		err    error
	}
	frames := make(chan result, 16)
	settingsToAck := make(chan struct{}, 4)
	go func() {
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				frames <- result{err: err}
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					settingsToAck <- struct{}{}
				}
			case *http2.PingFrame:
				if f.IsAck() {
					frames <- result{ack: true}
				}
			case *http2.GoAwayFrame:
				frames <- result{goAway: f}
			}
		}
	}()

	const pings = 5
	for i := range pings {
		select {
		case <-settingsToAck:
			if err := fr.WriteSettingsAck(); err != nil {
				t.Fatal(err)
			}
		default:
		}
		if err := fr.WritePing(false, [8]byte{byte(i)}); err != nil {
			t.Fatalf("ping %d: %v", i, err)
		}
		select {
		case r := <-frames:
			switch {
			case r.goAway != nil:
				t.Fatalf("ping %d: server sent GOAWAY %v %q: keepalive policy missing", i, r.goAway.ErrCode, r.goAway.DebugData())
			case r.err != nil:
				t.Fatalf("ping %d: connection failed: %v", i, r.err)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("ping %d: no ack", i)
		}
		time.Sleep(1200 * time.Millisecond)
	}
}
