package client_test

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/pemba-authz/pemba/client"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

func TestOptions(t *testing.T) {
	for name, c := range map[string]struct {
		target string
		opts   []client.Option
		want   string
	}{
		"no transport chosen":        {"127.0.0.1:1", nil, "WithTLS or WithInsecure"},
		"key in the clear elsewhere": {"pdp.example.com:50051", []client.Option{client.WithInsecure(), client.WithKey("k")}, "without TLS"},
		"too many retries":           {"127.0.0.1:1", []client.Option{client.WithInsecure(), client.WithRetries(11, time.Second)}, "1 to 10"},
		"no back-off":                {"127.0.0.1:1", []client.Option{client.WithInsecure(), client.WithRetries(3, 0)}, "back-off"},
	} {
		_, err := client.New(c.target, c.opts...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, c.want)
		}
	}
	for _, target := range []string{"127.0.0.1:1", "localhost:1", "[::1]:1", "dns:///127.0.0.1:1"} {
		c, err := client.New(target, client.WithInsecure(), client.WithKey("k"))
		if err != nil {
			t.Errorf("%s: %v", target, err)
			continue
		}
		c.Close()
	}
}

// proxy forwards TCP connections to target, or refuses them (closing at once) while
// down is set.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  int
}

func startProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			down := p.down
			p.conns++
			p.mu.Unlock()
			if down {
				c.Close()
				continue
			}
			go func() {
				defer c.Close()
				s, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer s.Close()
				go io.Copy(s, c)
				io.Copy(c, s)
			}()
		}
	}()
	return p
}

func (p *proxy) setDown(d bool) {
	p.mu.Lock()
	p.down = d
	p.mu.Unlock()
}

// A check sent while the server cannot be reached is retried with back-off and
// succeeds once it can; with retries off it fails with UNAVAILABLE.
func TestRetriesUnavailable(t *testing.T) {
	p := startProxy(t, addr)
	p.setDown(true)
	c, err := client.New(p.ln.Addr().String(), client.WithInsecure(), client.WithKey(key), client.WithRetries(6, 100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		time.Sleep(400 * time.Millisecond)
		p.setDown(false)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = c.Schemas.ReadSchema(ctx, &pb.ReadSchemaRequest{})
	if err != nil && status.Code(err) != codes.NotFound {
		t.Fatalf("ReadSchema after the outage: %v", err)
	}
	p.mu.Lock()
	conns := p.conns
	p.mu.Unlock()
	if conns < 2 {
		t.Errorf("%d connection attempts; the call was not retried", conns)
	}

	p2 := startProxy(t, addr)
	p2.setDown(true)
	once, err := client.New(p2.ln.Addr().String(), client.WithInsecure(), client.WithKey(key), client.WithRetries(1, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer once.Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if _, err := once.Schemas.ReadSchema(ctx2, &pb.ReadSchemaRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("without retries: %v, want UNAVAILABLE", err)
	}
}

// The key is sent, and a wrong one is refused by the server.
func TestKey(t *testing.T) {
	c, err := client.New(addr, client.WithInsecure(), client.WithKey("not-the-key"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Schemas.ReadSchema(context.Background(), &pb.ReadSchemaRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("wrong key: %v, want UNAUTHENTICATED", err)
	}
}

// WithToken sets at_least_as_fresh only on requests that name no consistency.
func TestWithTokenLeavesExplicitConsistency(t *testing.T) {
	var seen []*pb.Consistency
	c, err := client.New(addr, client.WithInsecure(), client.WithKey(key), client.WithDialOptions(
		grpcRecorder(func(req any) {
			if m, ok := req.(interface{ GetConsistency() *pb.Consistency }); ok {
				seen = append(seen, m.GetConsistency())
			}
		})))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := client.WithToken(context.Background(), "pt1_some-token")
	c.Permissions.Check(ctx, &pb.CheckRequest{Resource: &pb.ObjectReference{Type: "document", Id: "x"}, Permission: "view", Subject: &pb.SubjectReference{Type: "user", Id: "y"}})
	c.Permissions.Check(ctx, &pb.CheckRequest{Consistency: client.FullyConsistent(), Resource: &pb.ObjectReference{Type: "document", Id: "x"}, Permission: "view", Subject: &pb.SubjectReference{Type: "user", Id: "y"}})
	if len(seen) != 2 {
		t.Fatalf("recorded %d requests", len(seen))
	}
	if !proto.Equal(seen[0], client.AtLeastAsFresh("pt1_some-token")) {
		t.Errorf("first request: %v, want at_least_as_fresh from the context", seen[0])
	}
	if !proto.Equal(seen[1], client.FullyConsistent()) {
		t.Errorf("second request: %v, want its own fully_consistent", seen[1])
	}
	if got := client.AtLeastAsFresh(""); got.GetMinimizeLatency() != true {
		t.Errorf("AtLeastAsFresh(\"\") = %v, want minimize_latency", got)
	}
}
