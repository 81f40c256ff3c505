package esdbtest_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/serverfeatures"
	"github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/shared"
	api "github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kazna-ledger/kazna/eventstore/esdb/esdbtest"
)

// These tests check wire details that the kurrentdb client hides or never asks for.

func dial(t *testing.T, s *esdbtest.Server) *grpc.ClientConn {
	t.Helper()
	addr := strings.TrimSuffix(strings.TrimPrefix(s.URL(), "kurrentdb://"), "?tls=false")
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func rawAppend(t *testing.T, c api.StreamsClient, stream string, opts *api.AppendReq_Options, msgs ...*api.AppendReq_ProposedMessage) (*api.AppendResp, error) {
	t.Helper()
	opts.StreamIdentifier = &shared.StreamIdentifier{StreamName: []byte(stream)}
	a, err := c.Append(context.Background())
	if err != nil {
		return nil, err
	}
	if err := a.Send(&api.AppendReq{Content: &api.AppendReq_Options_{Options: opts}}); err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if err := a.Send(&api.AppendReq{Content: &api.AppendReq_ProposedMessage_{ProposedMessage: m}}); err != nil {
			return nil, err
		}
	}
	return a.CloseAndRecv()
}

func proposedMessage(id uuid.UUID, md map[string]string) *api.AppendReq_ProposedMessage {
	return &api.AppendReq_ProposedMessage{Id: &shared.UUID{Value: &shared.UUID_String_{String_: id.String()}}, Metadata: md, Data: []byte(`{}`)}
}

func TestWireUUIDForms(t *testing.T) {
	s := esdbtest.StartT(t)
	c := api.NewStreamsClient(dial(t, s))
	id := uuid.New()
	_, err := rawAppend(t, c, "w", &api.AppendReq_Options{ExpectedStreamRevision: &api.AppendReq_Options_NoStream{NoStream: &shared.Empty{}}},
		proposedMessage(id, map[string]string{"type": "T", "content-type": "application/json"}))
	if err != nil {
		t.Fatal(err)
	}
	read := func(opt *api.ReadReq_Options_UUIDOption) *api.ReadResp_ReadEvent_RecordedEvent {
		t.Helper()
		rc, err := c.Read(context.Background(), &api.ReadReq{Options: &api.ReadReq_Options{
			StreamOption: &api.ReadReq_Options_Stream{Stream: &api.ReadReq_Options_StreamOptions{
				StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte("w")},
				RevisionOption:   &api.ReadReq_Options_StreamOptions_Start{Start: &shared.Empty{}},
			}},
			CountOption: &api.ReadReq_Options_Count{Count: 10},
			UuidOption:  opt,
		}})
		if err != nil {
			t.Fatal(err)
		}
		var out []*api.ReadResp
		for {
			m, err := rc.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
		if len(out) != 1 || out[0].GetEvent() == nil {
			t.Fatalf("want exactly one event message, got %v", out)
		}
		return out[0].GetEvent().GetEvent()
	}

	ev := read(&api.ReadReq_Options_UUIDOption{Content: &api.ReadReq_Options_UUIDOption_String_{String_: &shared.Empty{}}})
	if ev.GetId().GetString_() != id.String() {
		t.Fatalf("string id = %v, want %s", ev.GetId(), id)
	}
	if got := ev.GetMetadata(); got["type"] != "T" || got["content-type"] != "application/json" || got["created"] == "" {
		t.Fatalf("metadata = %v", got)
	}
	ev = read(&api.ReadReq_Options_UUIDOption{Content: &api.ReadReq_Options_UUIDOption_Structured{Structured: &shared.Empty{}}})
	st := ev.GetId().GetStructured()
	if st == nil {
		t.Fatalf("want a structured id, got %v", ev.GetId())
	}
	var b [16]byte
	for i := range 8 {
		b[i] = byte(uint64(st.GetMostSignificantBits()) >> (56 - 8*i))
		b[8+i] = byte(uint64(st.GetLeastSignificantBits()) >> (56 - 8*i))
	}
	if uuid.UUID(b) != id {
		t.Fatalf("structured id decodes to %s, want %s", uuid.UUID(b), id)
	}
}

func TestWireWrongExpectedVersionFields(t *testing.T) {
	s := esdbtest.StartT(t)
	c := api.NewStreamsClient(dial(t, s))
	md := map[string]string{"type": "T", "content-type": "application/json"}
	if _, err := rawAppend(t, c, "w", &api.AppendReq_Options{ExpectedStreamRevision: &api.AppendReq_Options_Any{Any: &shared.Empty{}}}, proposedMessage(uuid.New(), md)); err != nil {
		t.Fatal(err)
	}
	resp, err := rawAppend(t, c, "w", &api.AppendReq_Options{ExpectedStreamRevision: &api.AppendReq_Options_Revision{Revision: 5}}, proposedMessage(uuid.New(), md))
	if err != nil {
		t.Fatal(err)
	}
	w := resp.GetWrongExpectedVersion()
	if w == nil {
		t.Fatalf("want wrong_expected_version, got %v", resp)
	}
	if w.GetCurrentRevision() != 0 || w.GetCurrentRevisionOption() == nil || w.GetExpectedRevision() != 5 {
		t.Fatalf("current fields wrong: %v", w)
	}
	if _, ok := w.GetCurrentRevisionOption_20_6_0().(*api.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0); !ok || w.GetExpectedRevision_20_6_0() != 5 {
		t.Fatalf("legacy fields wrong: %v", w)
	}

	resp, err = rawAppend(t, c, "missing", &api.AppendReq_Options{ExpectedStreamRevision: &api.AppendReq_Options_StreamExists{StreamExists: &shared.Empty{}}}, proposedMessage(uuid.New(), md))
	if err != nil {
		t.Fatal(err)
	}
	w = resp.GetWrongExpectedVersion()
	if w.GetCurrentNoStream() == nil || w.GetExpectedStreamExists() == nil || w.GetNoStream_20_6_0() == nil || w.GetStreamExists_20_6_0() == nil {
		t.Fatalf("stream_exists conflict fields wrong: %v", w)
	}
}

func TestWireRejectsBadInput(t *testing.T) {
	s := esdbtest.StartT(t)
	c := api.NewStreamsClient(dial(t, s))
	anyRevision := &api.AppendReq_Options{ExpectedStreamRevision: &api.AppendReq_Options_Any{Any: &shared.Empty{}}}
	cases := []struct {
		name string
		msg  *api.AppendReq_ProposedMessage
	}{
		{"missing type", proposedMessage(uuid.New(), map[string]string{"content-type": "application/json"})},
		{"missing content-type", proposedMessage(uuid.New(), map[string]string{"type": "T"})},
		{"bad id", &api.AppendReq_ProposedMessage{Id: &shared.UUID{Value: &shared.UUID_String_{String_: "nope"}}, Metadata: map[string]string{"type": "T", "content-type": "x"}}},
		{"no id", &api.AppendReq_ProposedMessage{Metadata: map[string]string{"type": "T", "content-type": "x"}}},
	}
	for _, tc := range cases {
		_, err := rawAppend(t, c, "bad", anyRevision, tc.msg)
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: got %v, want InvalidArgument", tc.name, err)
		}
	}
	if _, err := rawAppend(t, c, "", anyRevision); status.Code(err) != codes.InvalidArgument {
		t.Errorf("empty stream name: got %v, want InvalidArgument", err)
	}
	if _, err := rawAppend(t, c, "big", anyRevision, &api.AppendReq_ProposedMessage{
		Id: &shared.UUID{Value: &shared.UUID_String_{String_: uuid.NewString()}}, Metadata: map[string]string{"type": "T", "content-type": "x"},
		Data: make([]byte, 2<<20),
	}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("oversized append: got %v, want InvalidArgument", err)
	}
	rc, err := c.Read(context.Background(), &api.ReadReq{})
	if err == nil {
		_, err = rc.Recv()
	}
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("read without options: got %v, want InvalidArgument", err)
	}
	// Nothing above may have written anything.
	rc, err = c.Read(context.Background(), &api.ReadReq{Options: &api.ReadReq_Options{
		StreamOption: &api.ReadReq_Options_All{All: &api.ReadReq_Options_AllOptions{AllOption: &api.ReadReq_Options_AllOptions_Start{Start: &shared.Empty{}}}},
		CountOption:  &api.ReadReq_Options_Count{Count: 10},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := rc.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("$all not empty after rejected appends: %v %v", m, err)
	}
}

func TestWireDeleteConflictTrailers(t *testing.T) {
	s := esdbtest.StartT(t)
	c := api.NewStreamsClient(dial(t, s))
	var trailer metadata.MD
	_, err := c.Delete(context.Background(), &api.DeleteReq{Options: &api.DeleteReq_Options{
		StreamIdentifier:       &shared.StreamIdentifier{StreamName: []byte("nope")},
		ExpectedStreamRevision: &api.DeleteReq_Options_Revision{Revision: 3},
	}}, grpc.Trailer(&trailer))
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("got %v, want FailedPrecondition", err)
	}
	if got := trailer.Get("exception"); len(got) != 1 || got[0] != "wrong-expected-version" {
		t.Fatalf("exception trailer = %v", got)
	}
	if got := trailer.Get("actual-version"); len(got) != 1 || got[0] != "-1" {
		t.Fatalf("actual-version trailer = %v", got)
	}
}

func TestWireAdvertisedMethods(t *testing.T) {
	s := esdbtest.StartT(t)
	resp, err := serverfeatures.NewServerFeaturesClient(dial(t, s)).GetSupportedMethods(context.Background(), &shared.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetEventStoreServerVersion() != "24.10.0" {
		t.Fatalf("version %q", resp.GetEventStoreServerVersion())
	}
	got := map[string]bool{}
	for _, m := range resp.GetMethods() {
		got[m.GetServiceName()+"/"+m.GetMethodName()] = true
	}
	for _, m := range []string{"read", "append", "delete", "tombstone"} {
		if !got["event_store.client.streams.streams/"+m] {
			t.Errorf("%s not advertised", m)
		}
	}
	for k := range got {
		for _, banned := range []string{"batchappend", "appendsession", "appendrecords"} {
			if strings.HasSuffix(k, "/"+banned) {
				t.Errorf("%s advertised but not served", k)
			}
		}
	}
}
