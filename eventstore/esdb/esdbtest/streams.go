package esdbtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/google/uuid"
	"github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/shared"
	api "github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Metadata keys and trailer values as the real server and client spell them.
const (
	metaType        = "type"
	metaContentType = "content-type"
	metaCreated     = "created"

	trailerException       = "exception"
	trailerStreamName      = "stream-name"
	exceptionStreamDeleted = "stream-deleted"
	exceptionWrongVersion  = "wrong-expected-version"
)

// streamsService implements event_store.client.streams.Streams.
type streamsService struct {
	api.UnimplementedStreamsServer
	store *store
	// done is closed by Server.Close so that subscriptions end instead of blocking a
	// graceful stop forever.
	done <-chan struct{}
}

// expected is a request's expected revision: its commit-check code, and the raw
// revision for reporting (a revision above MaxInt64 can never match).
type expected struct {
	code     expectation
	revision uint64
	isExact  bool
}

func exactRevision(n uint64) expected {
	code := expectation(math.MaxInt64)
	if n < math.MaxInt64 {
		code = expectation(n)
	}
	return expected{code: code, revision: n, isExact: true}
}

func (e expected) String() string {
	if e.isExact {
		return strconv.FormatUint(e.revision, 10)
	}
	return strconv.FormatInt(int64(e.code), 10)
}

func expectedOfAppend(o *api.AppendReq_Options) (expected, error) {
	switch v := o.GetExpectedStreamRevision().(type) {
	case *api.AppendReq_Options_Revision:
		return exactRevision(v.Revision), nil
	case *api.AppendReq_Options_NoStream:
		return expected{code: expectNoStream}, nil
	case *api.AppendReq_Options_Any:
		return expected{code: expectAny}, nil
	case *api.AppendReq_Options_StreamExists:
		return expected{code: expectStreamExists}, nil
	}
	return expected{}, status.Error(codes.InvalidArgument, "expected stream revision is required")
}

func expectedOfDelete(o *api.DeleteReq_Options) (expected, error) {
	switch v := o.GetExpectedStreamRevision().(type) {
	case *api.DeleteReq_Options_Revision:
		return exactRevision(v.Revision), nil
	case *api.DeleteReq_Options_NoStream:
		return expected{code: expectNoStream}, nil
	case *api.DeleteReq_Options_Any:
		return expected{code: expectAny}, nil
	case *api.DeleteReq_Options_StreamExists:
		return expected{code: expectStreamExists}, nil
	}
	return expected{}, status.Error(codes.InvalidArgument, "expected stream revision is required")
}

func expectedOfTombstone(o *api.TombstoneReq_Options) (expected, error) {
	switch v := o.GetExpectedStreamRevision().(type) {
	case *api.TombstoneReq_Options_Revision:
		return exactRevision(v.Revision), nil
	case *api.TombstoneReq_Options_NoStream:
		return expected{code: expectNoStream}, nil
	case *api.TombstoneReq_Options_Any:
		return expected{code: expectAny}, nil
	case *api.TombstoneReq_Options_StreamExists:
		return expected{code: expectStreamExists}, nil
	}
	return expected{}, status.Error(codes.InvalidArgument, "expected stream revision is required")
}

func streamName(id *shared.StreamIdentifier) (string, error) {
	name := string(id.GetStreamName())
	if name == "" {
		return "", status.Error(codes.InvalidArgument, "stream name is required")
	}
	return name, nil
}

// Append is client-streaming: options first, then the proposed events. Concurrency
// conflicts are answered in-band; only deleted streams and bad input are gRPC errors.
func (svc *streamsService) Append(srv api.Streams_AppendServer) error {
	first, err := srv.Recv()
	if errors.Is(err, io.EOF) {
		return status.Error(codes.InvalidArgument, "append options are required")
	}
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "the first append message must carry options")
	}
	name, err := streamName(opts.GetStreamIdentifier())
	if err != nil {
		return err
	}
	exp, err := expectedOfAppend(opts)
	if err != nil {
		return err
	}
	var events []proposed
	size := 0
	for {
		msg, err := srv.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		pm := msg.GetProposedMessage()
		if pm == nil {
			return status.Error(codes.InvalidArgument, "append options may be sent only once")
		}
		e, err := proposedOf(pm)
		if err != nil {
			return err
		}
		size += len(e.data) + len(e.custom)
		if size > maxAppendBytes {
			srv.SetTrailer(metadata.Pairs(trailerException, "maximum-append-size-exceeded", "maximum-append-size", strconv.Itoa(maxAppendBytes)))
			return status.Errorf(codes.InvalidArgument, "maximum append size of %d bytes exceeded", maxAppendBytes)
		}
		events = append(events, e)
	}

	res := svc.store.appendEvents(name, exp.code, events)
	switch res.decision {
	case decisionDeleted:
		return streamDeletedError(srv.SetTrailer, name)
	case decisionWrongVersion:
		return srv.SendAndClose(&api.AppendResp{Result: &api.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: wrongExpectedVersion(exp, res.current)}})
	}
	succ := &api.AppendResp_Success{}
	switch {
	case res.last != nil:
		succ.CurrentRevisionOption = &api.AppendResp_Success_CurrentRevision{CurrentRevision: res.last.rev}
		succ.PositionOption = &api.AppendResp_Success_Position{Position: &api.AppendResp_Position{CommitPosition: res.last.pos, PreparePosition: res.last.pos}}
	case res.current >= 0: // nothing proposed
		succ.CurrentRevisionOption = &api.AppendResp_Success_CurrentRevision{CurrentRevision: uint64(res.current)}
		succ.PositionOption = &api.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}}
	default:
		succ.CurrentRevisionOption = &api.AppendResp_Success_NoStream{NoStream: &shared.Empty{}}
		succ.PositionOption = &api.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}}
	}
	return srv.SendAndClose(&api.AppendResp{Result: &api.AppendResp_Success_{Success: succ}})
}

// proposedOf validates one proposed event. Like the real server it requires the type
// and content-type metadata and keeps only whether the content is JSON.
func proposedOf(pm *api.AppendReq_ProposedMessage) (proposed, error) {
	id, err := uuidOf(pm.GetId())
	if err != nil {
		return proposed{}, err
	}
	md := pm.GetMetadata()
	typ, ok := md[metaType]
	if !ok || typ == "" {
		return proposed{}, status.Error(codes.InvalidArgument, "required metadata property 'type' is missing")
	}
	ct, ok := md[metaContentType]
	if !ok {
		return proposed{}, status.Error(codes.InvalidArgument, "required metadata property 'content-type' is missing")
	}
	return proposed{id: id, typ: typ, isJSON: ct == contentTypeJSON, custom: pm.GetCustomMetadata(), data: pm.GetData()}, nil
}

// wrongExpectedVersion fills both the current oneofs (fields 6-11), which KurrentDB
// and EventStore v4 clients read, and the legacy _20_6_0 fields for older clients.
func wrongExpectedVersion(exp expected, current int64) *api.AppendResp_WrongExpectedVersion {
	w := &api.AppendResp_WrongExpectedVersion{}
	if current >= 0 {
		w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(current)}
		w.CurrentRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: uint64(current)}
	} else {
		w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
		w.CurrentRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: &shared.Empty{}}
	}
	switch {
	case exp.isExact:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: exp.revision}
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: exp.revision}
	case exp.code == expectAny:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_Any_20_6_0{Any_20_6_0: &shared.Empty{}}
	case exp.code == expectStreamExists:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_StreamExists_20_6_0{StreamExists_20_6_0: &shared.Empty{}}
	default: // no_stream has no legacy field
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
	}
	return w
}

// streamDeletedError is how the real server reports a tombstoned stream: the client
// turns the "exception: stream-deleted" trailer into ErrorCodeStreamDeleted.
func streamDeletedError(setTrailer func(metadata.MD), name string) error {
	setTrailer(metadata.Pairs(trailerException, exceptionStreamDeleted, trailerStreamName, name))
	return status.Errorf(codes.FailedPrecondition, "Event stream '%s' is deleted.", name)
}

// wrongVersionError is the out-of-band conflict used by Delete and Tombstone, which
// have no in-band result. The client maps it to ErrorCodeUnknown.
func wrongVersionError(ctx context.Context, name string, exp expected, current int64) error {
	_ = grpc.SetTrailer(ctx, metadata.Pairs(trailerException, exceptionWrongVersion, trailerStreamName, name,
		"expected-version", exp.String(), "actual-version", strconv.FormatInt(current, 10)))
	return status.Errorf(codes.FailedPrecondition, "WrongExpectedVersion. Stream: %s, Expected version: %s, Actual version: %d", name, exp, current)
}

func unaryTrailer(ctx context.Context) func(metadata.MD) {
	return func(md metadata.MD) { _ = grpc.SetTrailer(ctx, md) }
}

// Delete is a soft delete: it sets truncate-before on the stream's metadata, so reads
// report not-found and a later append continues the numbering.
func (svc *streamsService) Delete(ctx context.Context, req *api.DeleteReq) (*api.DeleteResp, error) {
	name, err := streamName(req.GetOptions().GetStreamIdentifier())
	if err != nil {
		return nil, err
	}
	exp, err := expectedOfDelete(req.GetOptions())
	if err != nil {
		return nil, err
	}
	d, cur, pos := svc.store.deleteStream(name, exp.code, false)
	switch d {
	case decisionDeleted:
		return nil, streamDeletedError(unaryTrailer(ctx), name)
	case decisionWrongVersion:
		return nil, wrongVersionError(ctx, name, exp, cur)
	}
	return &api.DeleteResp{PositionOption: &api.DeleteResp_Position_{Position: &api.DeleteResp_Position{CommitPosition: pos, PreparePosition: pos}}}, nil
}

// Tombstone is a hard delete: a $streamDeleted record is written and the stream can
// never be read or written again.
func (svc *streamsService) Tombstone(ctx context.Context, req *api.TombstoneReq) (*api.TombstoneResp, error) {
	name, err := streamName(req.GetOptions().GetStreamIdentifier())
	if err != nil {
		return nil, err
	}
	exp, err := expectedOfTombstone(req.GetOptions())
	if err != nil {
		return nil, err
	}
	d, cur, pos := svc.store.deleteStream(name, exp.code, true)
	switch d {
	case decisionDeleted:
		return nil, streamDeletedError(unaryTrailer(ctx), name)
	case decisionWrongVersion:
		return nil, wrongVersionError(ctx, name, exp, cur)
	}
	return &api.TombstoneResp{PositionOption: &api.TombstoneResp_Position_{Position: &api.TombstoneResp_Position{CommitPosition: pos, PreparePosition: pos}}}, nil
}

// Read serves both finite reads (count_option=count) and catch-up subscriptions.
func (svc *streamsService) Read(req *api.ReadReq, srv api.Streams_ReadServer) error {
	o := req.GetOptions()
	if o == nil {
		return status.Error(codes.InvalidArgument, "read options are required")
	}
	structured := o.GetUuidOption().GetString_() == nil
	var f *filter
	if fo := o.GetFilter(); fo != nil {
		var err error
		if f, err = newFilter(fo); err != nil {
			return err
		}
	}
	if o.GetSubscription() != nil {
		return svc.subscribe(o, f, structured, srv)
	}
	if _, ok := o.GetCountOption().(*api.ReadReq_Options_Count); !ok {
		return status.Error(codes.InvalidArgument, "count or subscription is required")
	}
	count := o.GetCount()
	backwards := o.GetReadDirection() == api.ReadReq_Options_Backwards

	var out []*record
	switch {
	case o.GetStream() != nil:
		so := o.GetStream()
		name, err := streamName(so.GetStreamIdentifier())
		if err != nil {
			return err
		}
		var from int64
		switch {
		case so.GetStart() != nil:
			from = 0
		case so.GetEnd() != nil:
			from = math.MaxInt64 // forwards from the end reads nothing
			if backwards {
				from = -1
			}
		default:
			from = int64(min(so.GetRevision(), math.MaxInt64))
		}
		var state streamReadState
		out, state = svc.store.readStream(name, from, backwards, count)
		switch state {
		case streamDeleted:
			return streamDeletedError(srv.SetTrailer, name)
		case streamMissing:
			// In-band, and the stream then ends cleanly: the client reports
			// ErrorCodeResourceNotFound on its first Recv.
			return srv.Send(&api.ReadResp{Content: &api.ReadResp_StreamNotFound_{StreamNotFound: &api.ReadResp_StreamNotFound{
				StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(name)},
			}}})
		}
	case o.GetAll() != nil:
		ao := o.GetAll()
		var from *logPosition
		if p := ao.GetPosition(); p != nil {
			from = &logPosition{p.GetCommitPosition(), p.GetPreparePosition()}
		}
		if !(backwards && ao.GetStart() != nil) {
			out = svc.store.readAll(from, ao.GetEnd() != nil, backwards, count, f)
		}
	default:
		return status.Error(codes.InvalidArgument, "stream or $all options are required")
	}
	for _, r := range out {
		if err := srv.Send(readEvent(r, structured)); err != nil {
			return err
		}
	}
	return nil
}

// readEvent encodes a record. The metadata map must carry type, content-type and
// created: the client calls log.Fatalf when created is missing or not an integer.
// Never send first/last_stream_position here: the client panics on them.
func readEvent(r *record, structured bool) *api.ReadResp {
	ct := contentTypeBinary
	if r.isJSON {
		ct = contentTypeJSON
	}
	custom, data := r.custom, r.data
	if custom == nil {
		custom = []byte{}
	}
	if data == nil {
		data = []byte{}
	}
	return &api.ReadResp{Content: &api.ReadResp_Event{Event: &api.ReadResp_ReadEvent{
		Event: &api.ReadResp_ReadEvent_RecordedEvent{
			Id:               uuidProto(r.id, structured),
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(r.stream)},
			StreamRevision:   r.rev,
			PreparePosition:  r.pos,
			CommitPosition:   r.pos,
			Metadata:         map[string]string{metaType: r.typ, metaContentType: ct, metaCreated: strconv.FormatInt(r.created, 10)},
			CustomMetadata:   custom,
			Data:             data,
		},
		Position: &api.ReadResp_ReadEvent_CommitPosition{CommitPosition: r.pos},
	}}}
}

// uuidOf decodes an event ID in either wire form. Structured is two big-endian
// int64 halves.
func uuidOf(u *shared.UUID) (uuid.UUID, error) {
	if st := u.GetStructured(); st != nil {
		var id uuid.UUID
		for i := range 8 {
			id[i] = byte(uint64(st.GetMostSignificantBits()) >> (56 - 8*i))
			id[8+i] = byte(uint64(st.GetLeastSignificantBits()) >> (56 - 8*i))
		}
		return id, nil
	}
	if s := u.GetString_(); s != "" {
		id, err := uuid.Parse(s)
		if err != nil {
			return uuid.Nil, status.Error(codes.InvalidArgument, fmt.Sprintf("invalid event id: %v", err))
		}
		return id, nil
	}
	return uuid.Nil, status.Error(codes.InvalidArgument, "event id is required")
}

func uuidProto(id uuid.UUID, structured bool) *shared.UUID {
	if !structured {
		return &shared.UUID{Value: &shared.UUID_String_{String_: id.String()}}
	}
	var most, least uint64
	for i := range 8 {
		most = most<<8 | uint64(id[i])
		least = least<<8 | uint64(id[8+i])
	}
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
		MostSignificantBits: int64(most), LeastSignificantBits: int64(least),
	}}}
}
