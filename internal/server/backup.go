package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sort"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/pemba-authz/pemba/internal/datastore"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// Backuper is a store that streams a consistent copy of itself while it serves, as
// the embedded store does. begin gets the copy's size in bytes and every tenant's
// head revision in it before the first byte is written to w.
type Backuper interface {
	Backup(ctx context.Context, w io.Writer, begin func(size int64, heads map[string]datastore.Revision) error) error
}

// backupChunk is the most file bytes one backup message carries: big enough that a
// large file is few messages, well under the 4 MiB clients accept by default.
const backupChunk = 1 << 20

// backupStall is how long a backup waits for the client to take one message. The
// store holds a read transaction while it copies (its file cannot reuse freed pages
// meanwhile), so a client that stops reading must not hold it for good.
var backupStall = time.Minute

// errBackupStalled ends a backup whose client stopped reading.
var errBackupStalled = errors.New("the client stopped reading")

// errNoBackup answers a backup on a store that cannot stream one.
var errNoBackup = &apiError{code: codes.FailedPrecondition, msg: "online backup needs the embedded datastore (--datastore bolt): back up PostgreSQL with pg_dump and CockroachDB with its BACKUP statement, and the memory store, which keeps nothing on disk, with pemba export"}

// Backup streams a consistent snapshot of the store: a header with its size and each
// tenant's newest token, the bytes in chunks, then a trailer with their SHA-256. The
// store copies into a pipe that this goroutine drains into the stream, so the copy
// never runs ahead of the client and stream.Send is only ever called here.
func (s *backupService) Backup(_ *pb.BackupRequest, stream pb.BackupService_BackupServer) error {
	if s.cfg.Backup == nil {
		return errNoBackup
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	pr, pw := io.Pipe()
	headers := make(chan *pb.BackupHeader, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := s.cfg.Backup.Backup(ctx, pw, func(size int64, heads map[string]datastore.Revision) error {
			headers <- s.backupHeader(size, heads)
			return nil
		})
		pw.CloseWithError(err) // nil: the reader sees io.EOF
	}()
	// However the stream ends, the copy stops and its read transaction is released
	// before the handler returns.
	defer func() {
		cancel()
		pr.CloseWithError(context.Canceled)
		<-done
	}()

	var header *pb.BackupHeader
	select {
	case header = <-headers:
	case <-done:
		_, err := pr.Read(make([]byte, 1)) // the copy failed before its header
		return toStatus(err)
	}
	b := backupSender{stream: stream, pipe: pr, sum: sha256.New()}
	if err := b.send(&pb.BackupResponse{Part: &pb.BackupResponse_Header{Header: header}}); err != nil {
		return err
	}
	if err := b.copyChunks(); err != nil {
		return err
	}
	if b.sent != header.GetSizeBytes() {
		return toStatus(fmt.Errorf("the backup sent %d bytes but its header said %d", b.sent, header.GetSizeBytes()))
	}
	return b.send(&pb.BackupResponse{Part: &pb.BackupResponse_Trailer{Trailer: &pb.BackupTrailer{Sha256: hex.EncodeToString(b.sum.Sum(nil))}}})
}

// backupHeader describes a snapshot: its size and each tenant's newest token.
func (s *Server) backupHeader(size int64, heads map[string]datastore.Revision) *pb.BackupHeader {
	h := &pb.BackupHeader{SizeBytes: size, StoreId: s.ds.UniqueID()}
	for tenant, rev := range heads {
		h.Tenants = append(h.Tenants, &pb.BackupTenant{Tenant: tenant, Token: s.token(tenant, rev)})
	}
	sort.Slice(h.Tenants, func(i, j int) bool { return h.Tenants[i].Tenant < h.Tenants[j].Tenant })
	return h
}

// backupSender moves a backup from the store's pipe to the stream.
type backupSender struct {
	stream pb.BackupService_BackupServer
	pipe   *io.PipeReader
	sum    hash.Hash
	sent   int64
}

// copyChunks sends the pipe's bytes in chunks of up to backupChunk until the copy
// ends, and returns its error, if any, as a status.
func (b *backupSender) copyChunks() error {
	buf := make([]byte, backupChunk)
	for {
		n, err := io.ReadFull(b.pipe, buf)
		if n > 0 {
			b.sum.Write(buf[:n])
			b.sent += int64(n)
			// The message is sent before buf is reused: Send has serialised it when
			// it returns.
			if serr := b.send(&pb.BackupResponse{Part: &pb.BackupResponse_Chunk{Chunk: buf[:n]}}); serr != nil {
				return serr
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return nil
		case errors.Is(err, errBackupStalled):
			return &apiError{code: codes.DeadlineExceeded, msg: fmt.Sprintf("the backup was abandoned: the client took no data for %s", backupStall)}
		default:
			return toStatus(err)
		}
	}
}

// send sends one message. A client that takes none for backupStall makes the copy
// stop (the pipe closes), so the store's read transaction ends even while Send
// still waits for the client.
func (b *backupSender) send(msg *pb.BackupResponse) error {
	stall := time.AfterFunc(backupStall, func() { b.pipe.CloseWithError(errBackupStalled) })
	err := b.stream.Send(msg)
	if !stall.Stop() {
		return &apiError{code: codes.DeadlineExceeded, msg: fmt.Sprintf("the backup was abandoned: the client took no data for %s", backupStall)}
	}
	return err
}
