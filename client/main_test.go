package client_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/memory"
	"github.com/pemba-authz/pemba/internal/serve"
	"github.com/pemba-authz/pemba/internal/server"
)

// addr is the gRPC address of the real server the examples and tests talk to, and
// key its admin key.
var (
	addr string
	key  = "example-admin-key-0001"
)

func TestMain(m *testing.M) {
	st, err := serve.NewStack(memory.New(datastore.Options{}), serve.StackOptions{Server: server.Config{
		GRPCAddr: "127.0.0.1:0",
		HTTPAddr: "127.0.0.1:0",
		Keys:     []server.Key{server.NewKey("example", server.RoleAdmin, nil, key)},
		Logger:   slog.New(slog.DiscardHandler),
	}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := st.Server.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	addr = st.Server.GRPCAddr()
	code := m.Run()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	st.Server.Shutdown(ctx)
	cancel()
	st.Close()
	os.Exit(code)
}
