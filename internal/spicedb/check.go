package spicedb

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// Answers of a check, named alike for both servers so they compare as strings.
const (
	Allowed     = "allowed"
	Denied      = "denied"
	Conditional = "conditional"
)

// ClientOptions say how to reach a SpiceDB server.
type ClientOptions struct {
	// Endpoint is host:port of its gRPC API.
	Endpoint string
	// Token is its preshared key, sent as a bearer token.
	Token string
	// TLS connects with TLS, verifying the server against CAFile or the system roots.
	TLS    bool
	CAFile string
}

// Client checks permissions on a SpiceDB server through its v1 API.
type Client struct {
	conn  *grpc.ClientConn
	perms v1.PermissionsServiceClient
}

// Dial opens a client. gRPC connects lazily: an unreachable server shows up as an
// error of the first check.
func Dial(o ClientOptions) (*Client, error) {
	creds := insecure.NewCredentials()
	if o.TLS || o.CAFile != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if o.CAFile != "" {
			pem, err := os.ReadFile(o.CAFile)
			if err != nil {
				return nil, err
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s holds no PEM certificate", o.CAFile)
			}
			cfg.RootCAs = pool
		}
		creds = credentials.NewTLS(cfg)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds), grpc.WithUserAgent("pemba-compare")}
	if o.Token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(presharedKey(o.Token)))
	}
	conn, err := grpc.NewClient(o.Endpoint, opts...)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", o.Endpoint, err)
	}
	return &Client{conn: conn, perms: v1.NewPermissionsServiceClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Check asks whether subject has permission on resource, fully consistent, with the
// caveat context given (nil for none). The answer is Allowed, Denied or Conditional;
// a failed call returns the call's status error.
func (c *Client) Check(ctx context.Context, resource tuple.ObjectRef, permission string, subject tuple.SubjectRef, caveatContext map[string]any) (string, error) {
	req := &v1.CheckPermissionRequest{
		Consistency: &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}},
		Resource:    &v1.ObjectReference{ObjectType: resource.Type, ObjectId: resource.ID},
		Permission:  permission,
		Subject: &v1.SubjectReference{
			Object:           &v1.ObjectReference{ObjectType: subject.Type, ObjectId: subject.ID},
			OptionalRelation: subject.Relation,
		},
	}
	if len(caveatContext) > 0 {
		s, err := structpb.NewStruct(caveatContext)
		if err != nil {
			return "", fmt.Errorf("caveat context: %w", err)
		}
		req.Context = s
	}
	res, err := c.perms.CheckPermission(ctx, req)
	if err != nil {
		return "", err
	}
	switch res.GetPermissionship() {
	case v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION:
		return Allowed, nil
	case v1.CheckPermissionResponse_PERMISSIONSHIP_NO_PERMISSION:
		return Denied, nil
	case v1.CheckPermissionResponse_PERMISSIONSHIP_CONDITIONAL_PERMISSION:
		return Conditional, nil
	}
	return "", fmt.Errorf("the server answered %s", res.GetPermissionship())
}

// presharedKey sends SpiceDB's preshared key as a bearer token.
type presharedKey string

func (k presharedKey) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(k)}, nil
}

// RequireTransportSecurity is false so a loopback server without TLS can be compared.
func (presharedKey) RequireTransportSecurity() bool { return false }
