package esdbtest

import (
	"context"
	"fmt"
	"maps"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/gossip"
	"github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/persistent"
	"github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/projections"
	"github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/serverfeatures"
	"github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/shared"
	api "github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

const (
	// serverVersion is reported by ServerFeatures; 23.10 and later tell clients that
	// subscriptions send caught_up and fell_behind.
	serverVersion = "24.10.0"
	// maxMessageBytes matches the client's 17 MiB message limit.
	maxMessageBytes = 17 << 20
	// closeGrace bounds how long Close waits for in-flight calls before cutting them off.
	closeGrace = 2 * time.Second
)

// Server is a running test server. It is safe for concurrent use.
type Server struct {
	gs     *grpc.Server
	addr   string
	done   chan struct{}
	served chan struct{}
	once   sync.Once

	callsMu sync.Mutex
	calls   map[string]int
}

// Start listens on 127.0.0.1:0 and serves until Close. The client offers no custom
// dialer, so the server must be reachable over real TCP.
func Start() (*Server, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("esdbtest: listen: %w", err)
	}
	s := &Server{addr: lis.Addr().String(), done: make(chan struct{}), served: make(chan struct{}), calls: map[string]int{}}
	s.gs = grpc.NewServer(
		// The client pings every 10 s even without active calls. grpc-go's default
		// policy (MinTime 5 min) answers with GOAWAY "too_many_pings" and so drops
		// idle subscriptions after about 30-40 s.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(maxMessageBytes),
		grpc.MaxSendMsgSize(maxMessageBytes),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			s.count(info.FullMethod)
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			s.count(info.FullMethod)
			return h(srv, ss)
		}),
	)
	api.RegisterStreamsServer(s.gs, &streamsService{store: newStore(), done: s.done})
	serverfeatures.RegisterServerFeaturesServer(s.gs, featuresService{})
	// Registered only so that their calls are counted; every method is Unimplemented,
	// which the client reports as ErrorCodeUnsupportedFeature.
	gossip.RegisterGossipServer(s.gs, gossip.UnimplementedGossipServer{})
	persistent.RegisterPersistentSubscriptionsServer(s.gs, persistent.UnimplementedPersistentSubscriptionsServer{})
	projections.RegisterProjectionsServer(s.gs, projections.UnimplementedProjectionsServer{})
	go func() {
		defer close(s.served)
		_ = s.gs.Serve(lis) // returns nil after Stop; nothing else to report to
	}()
	return s, nil
}

// StartT starts a server for a test and closes it when the test ends.
func StartT(t testing.TB) *Server {
	t.Helper()
	s, err := Start()
	if err != nil {
		t.Fatalf("esdbtest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// URL is a connection string for kurrentdb.ParseConnectionString.
func (s *Server) URL() string {
	return "kurrentdb://" + s.addr + "?tls=false"
}

// Close ends subscriptions, waits briefly for other calls and stops the server.
// It may be called more than once.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.done)
		stopped := make(chan struct{})
		go func() {
			s.gs.GracefulStop()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-time.After(closeGrace):
			// A subscriber that stopped reading blocks its Send on flow control;
			// Stop cancels it.
			s.gs.Stop()
			<-stopped
		}
		<-s.served
	})
}

// Calls returns how many times each gRPC method (full name, for example
// "/event_store.client.streams.Streams/Append") has been called.
func (s *Server) Calls() map[string]int {
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	return maps.Clone(s.calls)
}

func (s *Server) count(method string) {
	s.callsMu.Lock()
	s.calls[method]++
	s.callsMu.Unlock()
}

// featuresService implements event_store.client.server_features.ServerFeatures.
type featuresService struct {
	serverfeatures.UnimplementedServerFeaturesServer
}

// GetSupportedMethods advertises only what this server implements. In particular it
// must not list batchappend, appendsession or appendrecords, or the client would use
// RPCs this server does not serve.
func (featuresService) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	const streams = "event_store.client.streams.streams"
	methods := make([]*serverfeatures.SupportedMethod, 0, 4)
	for _, m := range []string{"read", "append", "delete", "tombstone"} {
		methods = append(methods, &serverfeatures.SupportedMethod{ServiceName: streams, MethodName: m})
	}
	return &serverfeatures.SupportedMethods{EventStoreServerVersion: serverVersion, Methods: methods}, nil
}
