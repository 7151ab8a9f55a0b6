package loadgen

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// IsLoopback reports whether addr (host:port) names this machine's loopback
// interface: localhost or an address in 127.0.0.0/8 or ::1.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckTarget refuses a target that is not on loopback unless allowRemote is set.
func CheckTarget(flag, addr string, allowRemote bool) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%s %q is not host:port: %v", flag, addr, err)
	}
	if !allowRemote && !IsLoopback(addr) {
		return fmt.Errorf("%s %s is not a loopback address: the load generator only targets this machine unless --allow-remote is given", flag, addr)
	}
	return nil
}

// bearer sends a preshared key with every call. The server expects it on plaintext
// loopback connections too, so transport security is not required.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }

// Client holds one or more connections to the server and hands them out round-robin,
// so that many workers do not all queue behind one HTTP/2 connection.
type Client struct {
	conns  []*grpc.ClientConn
	perm   []pb.PermissionServiceClient
	rels   []pb.RelationshipServiceClient
	health []healthpb.HealthClient
	schema pb.SchemaServiceClient
	next   atomic.Uint64
}

// Dial connects to target with n connections. key, when not empty, is sent as a
// bearer token.
func Dial(target string, n int, key string) (*Client, error) {
	if n < 1 {
		return nil, fmt.Errorf("connection count %d must be at least 1", n)
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64 << 20)),
	}
	if key != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(key)))
	}
	c := &Client{}
	for range n {
		conn, err := grpc.NewClient("passthrough:///"+target, opts...)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("connecting to %s: %w", target, err)
		}
		c.conns = append(c.conns, conn)
		c.perm = append(c.perm, pb.NewPermissionServiceClient(conn))
		c.rels = append(c.rels, pb.NewRelationshipServiceClient(conn))
		c.health = append(c.health, healthpb.NewHealthClient(conn))
	}
	c.schema = pb.NewSchemaServiceClient(c.conns[0])
	return c, nil
}

func (c *Client) pick() int { return int(c.next.Add(1) % uint64(len(c.conns))) }

// Permissions returns a permission-service client on the next connection.
func (c *Client) Permissions() pb.PermissionServiceClient { return c.perm[c.pick()] }

// Relationships returns a relationship-service client on the next connection.
func (c *Client) Relationships() pb.RelationshipServiceClient { return c.rels[c.pick()] }

// Health returns a health client on the next connection.
func (c *Client) Health() healthpb.HealthClient { return c.health[c.pick()] }

// HealthAt returns the health client of connection i (0 <= i < Conns()).
func (c *Client) HealthAt(i int) healthpb.HealthClient { return c.health[i] }

// Conns is the number of connections.
func (c *Client) Conns() int { return len(c.conns) }

// Schema returns the schema-service client.
func (c *Client) Schema() pb.SchemaServiceClient { return c.schema }

// Close closes every connection.
func (c *Client) Close() {
	for _, conn := range c.conns {
		conn.Close()
	}
}
