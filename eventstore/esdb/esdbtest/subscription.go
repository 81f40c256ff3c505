package esdbtest

import (
	"regexp"
	"sort"
	"strings"

	"github.com/google/uuid"
	api "github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/streams"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// defaultSearchWindow stands in for the window when a filter asks for window=count.
const defaultSearchWindow = 32

// filter is a server-side $all filter on the stream name or the event type, by a list
// of prefixes or by a regular expression (unanchored, like .NET Regex.IsMatch).
type filter struct {
	byType   bool
	prefixes []string
	re       *regexp.Regexp
	// checkpointEvery is how many scanned events separate two checkpoints.
	checkpointEvery uint64
}

func newFilter(fo *api.ReadReq_Options_FilterOptions) (*filter, error) {
	f := &filter{}
	expr := fo.GetStreamIdentifier()
	if expr == nil {
		expr, f.byType = fo.GetEventType(), true
	}
	if expr == nil {
		return nil, status.Error(codes.InvalidArgument, "filter needs a stream_identifier or event_type expression")
	}
	f.prefixes = expr.GetPrefix()
	if rx := expr.GetRegex(); rx != "" {
		re, err := regexp.Compile(rx)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "invalid filter regex: %v", err)
		}
		f.re = re
	}
	if f.re == nil && len(f.prefixes) == 0 {
		return nil, status.Error(codes.InvalidArgument, "filter needs prefixes or a regex")
	}
	window := uint64(defaultSearchWindow)
	if _, ok := fo.GetWindow().(*api.ReadReq_Options_FilterOptions_Max); ok {
		window = uint64(fo.GetMax())
	}
	f.checkpointEvery = window * uint64(fo.GetCheckpointIntervalMultiplier())
	return f, nil
}

// match reports whether r passes the filter; a nil filter passes everything.
func (f *filter) match(r *record) bool {
	if f == nil {
		return true
	}
	v := r.stream
	if f.byType {
		v = r.typ
	}
	if f.re != nil {
		return f.re.MatchString(v)
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(v, p) {
			return true
		}
	}
	return false
}

// subscribe runs a catch-up subscription: confirmation, historical events, caught_up,
// then live events. It scans the global log through a cursor and re-scans from the
// cursor after every wake-up, so the hand-off from catch-up to live can neither lose
// nor repeat an event, whatever appends run concurrently.
func (svc *streamsService) subscribe(o *api.ReadReq_Options, f *filter, structured bool, srv api.Streams_ReadServer) error {
	if o.GetReadDirection() == api.ReadReq_Options_Backwards {
		return status.Error(codes.InvalidArgument, "subscriptions read forwards only")
	}
	s := svc.store
	var (
		name   string // "" for $all
		after  int64  = -1
		cursor int
	)
	switch {
	case o.GetStream() != nil:
		so := o.GetStream()
		var err error
		if name, err = streamName(so.GetStreamIdentifier()); err != nil {
			return err
		}
		f = nil // filters apply to $all only
		s.mu.Lock()
		if st := s.streams[name]; st != nil && st.tombstone != nil {
			s.mu.Unlock()
			return streamDeletedError(srv.SetTrailer, name)
		}
		switch {
		case so.GetStart() != nil:
		case so.GetEnd() != nil:
			cursor = len(s.log)
		default:
			after = int64(min(so.GetRevision(), uint64(deletedStreamRevision-1))) // exclusive
		}
		s.mu.Unlock()
	case o.GetAll() != nil:
		ao := o.GetAll()
		s.mu.Lock()
		switch {
		case ao.GetStart() != nil:
		case ao.GetEnd() != nil:
			cursor = len(s.log)
		default:
			p := logPosition{ao.GetPosition().GetCommitPosition(), ao.GetPosition().GetPreparePosition()}
			log := s.log
			cursor = sort.Search(len(log), func(i int) bool { return p.less(log[i].position()) }) // exclusive
		}
		s.mu.Unlock()
	default:
		return status.Error(codes.InvalidArgument, "stream or $all options are required")
	}

	// The client fails with "failed to initiate subscription" unless this comes first.
	if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_Confirmation{Confirmation: &api.ReadResp_SubscriptionConfirmation{
		SubscriptionId: uuid.NewString(),
	}}}); err != nil {
		return err
	}

	var scanned uint64
	caughtUp := false
	for {
		s.mu.Lock()
		batch := s.log[cursor:]
		changed := s.changed
		var truncateBefore uint64
		lastRev := int64(-1)
		if st := s.streams[name]; name != "" && st != nil {
			truncateBefore, lastRev = st.truncateBefore, st.lastRev()
		}
		var lastPos *logPosition
		if n := len(s.log); n > 0 {
			p := s.log[n-1].position()
			lastPos = &p
		}
		s.mu.Unlock()

		for _, r := range batch {
			cursor++
			if name != "" {
				if r.stream != name {
					continue
				}
				if r.rev == deletedStreamRevision {
					return streamDeletedError(srv.SetTrailer, name)
				}
				if int64(r.rev) <= after || r.rev < truncateBefore {
					continue
				}
				if err := srv.Send(readEvent(r, structured)); err != nil {
					return err
				}
				continue
			}
			scanned++
			if f.match(r) {
				if err := srv.Send(readEvent(r, structured)); err != nil {
					return err
				}
			}
			// A checkpoint names the last scanned record, so resuming from it
			// (exclusive) skips nothing that was not already delivered.
			if f != nil && f.checkpointEvery > 0 && scanned%f.checkpointEvery == 0 {
				if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_Checkpoint_{Checkpoint: &api.ReadResp_Checkpoint{
					CommitPosition: r.pos, PreparePosition: r.pos, Timestamp: timestamppb.Now(),
				}}}); err != nil {
					return err
				}
			}
		}

		if !caughtUp {
			caughtUp = true
			// The KurrentDB client reports CaughtUp only when the timestamp is set.
			cu := &api.ReadResp_CaughtUp{Timestamp: timestamppb.Now()}
			switch {
			case name != "" && lastRev >= 0:
				cu.StreamRevision = &lastRev
			case name == "" && lastPos != nil:
				cu.Position = &api.ReadResp_Position{CommitPosition: lastPos.commit, PreparePosition: lastPos.prepare}
			}
			if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_CaughtUp_{CaughtUp: cu}}); err != nil {
				return err
			}
		}

		select {
		case <-changed:
		case <-srv.Context().Done():
			return srv.Context().Err()
		case <-svc.done:
			return status.Error(codes.Unavailable, "server is shutting down")
		}
	}
}
