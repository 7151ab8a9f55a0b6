package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/bolt"
	"github.com/pemba-authz/pemba/internal/server"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// startBoltServer runs the server over an embedded store in dir, with the index, as
// `pemba serve` does by default.
func startBoltServer(t *testing.T, dir string) *testServer {
	t.Helper()
	ds, err := bolt.Open(dir, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return startServerOn(t, ds, true, nil)
}

// backupStream is what one Backup call returned.
type backupStream struct {
	header  *pb.BackupHeader
	data    []byte
	chunks  int
	trailer *pb.BackupTrailer
}

// receiveBackup reads a whole Backup stream, checking that it is a header, chunks and
// a trailer, in that order.
func receiveBackup(ctx context.Context, c pb.BackupServiceClient) (*backupStream, error) {
	stream, err := c.Backup(ctx, &pb.BackupRequest{})
	if err != nil {
		return nil, err
	}
	var b backupStream
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			if b.trailer == nil {
				return nil, errors.New("the stream ended without a trailer")
			}
			return &b, nil
		}
		if err != nil {
			return nil, err
		}
		switch part := msg.GetPart().(type) {
		case *pb.BackupResponse_Header:
			if b.header != nil || b.chunks > 0 {
				return nil, errors.New("a header after the first message")
			}
			b.header = part.Header
		case *pb.BackupResponse_Chunk:
			if b.header == nil || b.trailer != nil {
				return nil, errors.New("a chunk outside header and trailer")
			}
			b.data = append(b.data, part.Chunk...)
			b.chunks++
		case *pb.BackupResponse_Trailer:
			if b.header == nil || b.trailer != nil {
				return nil, errors.New("a trailer without a header, or twice")
			}
			b.trailer = part.Trailer
		default:
			return nil, fmt.Errorf("an empty message: %v", msg)
		}
	}
}

// Backup streams the embedded store's file as header, chunks and trailer: the size
// and digest match the bytes, the bytes are a datastore that passes the consistency
// check, and the header's tokens read what the backup holds.
func TestBackupStream(t *testing.T) {
	ts := startBoltServer(t, t.TempDir())
	ts.writeSchema(t, "")
	// Enough data for more than one chunk.
	for i := range 10 {
		rels := make([]string, 0, 1000)
		for j := range 1000 {
			rels = append(rels, fmt.Sprintf("document:d%d-%d-a-longer-id-for-a-bigger-file#viewer@user:u%d", i, j, j%50))
		}
		ts.touch(t, "", rels...)
	}
	last := ts.touch(t, "", "document:last#viewer@user:alice")

	b, err := receiveBackup(as(adminSecret), pb.NewBackupServiceClient(ts.conn))
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if int64(len(b.data)) != b.header.GetSizeBytes() || b.chunks < 2 {
		t.Fatalf("%d bytes in %d chunks, the header says %d", len(b.data), b.chunks, b.header.GetSizeBytes())
	}
	if sum := sha256.Sum256(b.data); hex.EncodeToString(sum[:]) != b.trailer.GetSha256() {
		t.Fatalf("the trailer's digest %s does not match the bytes", b.trailer.GetSha256())
	}
	if b.header.GetStoreId() != ts.ds.UniqueID() || len(b.header.GetTenants()) != 1 ||
		b.header.GetTenants()[0].GetTenant() != tuple.DefaultTenant || b.header.GetTenants()[0].GetToken() != last {
		t.Fatalf("header %v; want the store %s and the default tenant at token %s", b.header, ts.ds.UniqueID(), last)
	}
	file := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(file, b.data, 0o600); err != nil {
		t.Fatal(err)
	}
	info, err := bolt.CheckFile(file)
	if err != nil {
		t.Fatalf("the backup does not pass the check: %v", err)
	}
	want, err := datastore.DecodeToken(last, ts.ds.UniqueID(), tuple.DefaultTenant)
	if err != nil || info.Heads[tuple.DefaultTenant] != want {
		t.Fatalf("the backup file is at %v, the last write at %d (%v)", info.Heads, want, err)
	}
}

// Only an admin key for every tenant may take a backup: it holds every tenant. A
// server on a store that cannot copy itself says what to do instead.
func TestBackupRefusals(t *testing.T) {
	ts := startBoltServer(t, t.TempDir())
	c := pb.NewBackupServiceClient(ts.conn)
	for secret, fragment := range map[string]string{
		readerSecret:   "needs an admin key",
		delegateSecret: "needs an admin key",
		tenantAdmin:    "limited to tenants",
	} {
		_, err := receiveBackup(as(secret), c)
		wantCode(t, err, codes.PermissionDenied, fragment)
	}
	_, err := receiveBackup(context.Background(), c)
	wantCode(t, err, codes.Unauthenticated, "missing bearer token")

	mem := startServer(t, nil)
	_, err = receiveBackup(as(adminSecret), pb.NewBackupServiceClient(mem.conn))
	wantCode(t, err, codes.FailedPrecondition, "embedded datastore", "pg_dump", "pemba export")
}

// A client that stops reading does not hold the store's read transaction for good:
// after the stall limit the copy stops, and when the client reads again the stream
// ends with DEADLINE_EXCEEDED and no trailer.
func TestBackupAbandonedByStalledClient(t *testing.T) {
	restoreStall := server.SetBackupStall(200 * time.Millisecond)
	defer restoreStall()
	dir := t.TempDir()
	// A file of several chunks, written straight into the store.
	ds, err := bolt.Open(dir, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		_, err := ds.ReadWriteTx(context.Background(), tuple.DefaultTenant, datastore.TxMetadata{}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
			ups := make([]datastore.Update, 0, 5000)
			for j := range 5000 {
				ups = append(ups, datastore.Update{Op: datastore.OpTouch, Relationship: tuple.MustParse(fmt.Sprintf("document:stall-%d-%04d-padding-the-key-to-grow-the-file#viewer@user:u%d", i, j, j))})
			}
			return tx.WriteRelationships(ctx, ups)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	ts := startServerOn(t, ds, true, nil)
	// A small fixed flow-control window, so the server cannot push the file ahead
	// into the connection's buffers while the client is not reading.
	conn, err := grpc.NewClient(ts.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := pb.NewBackupServiceClient(conn).Backup(as(adminSecret), &pb.BackupRequest{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil || first.GetHeader().GetSizeBytes() < 4*(1<<20) {
		t.Fatalf("first message %v, %v; want a header of a file of several chunks", first.GetHeader(), err)
	}
	time.Sleep(time.Second) // well past the stall limit
	for {
		msg, err := stream.Recv()
		if err != nil {
			wantCode(t, err, codes.DeadlineExceeded, "abandoned", "took no data")
			break
		}
		if msg.GetTrailer() != nil {
			t.Fatal("a stalled backup completed")
		}
	}
	// The store is not held: the next backup completes (with the usual stall limit,
	// which a slow test machine never comes near).
	restoreStall()
	b, err := receiveBackup(as(adminSecret), pb.NewBackupServiceClient(ts.conn))
	if err != nil || int64(len(b.data)) != b.header.GetSizeBytes() {
		t.Fatalf("a backup after the abandoned one: %v", err)
	}
}
