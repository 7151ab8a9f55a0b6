package bolt

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	bbolt "go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// FileName is the name of the database file inside the datastore directory.
const FileName = "pemba.db"

// formatVersion is the key layout version written to new files. Open refuses files
// of any other version instead of misreading them.
const formatVersion = "1"

// DefaultLockTimeout is how long Open waits for another process to release the file.
const DefaultLockTimeout = time.Second

// Options configure the embedded store. The zero value means the documented defaults.
type Options struct {
	datastore.Options
	// LockTimeout is how long Open waits for the file lock another process holds
	// before failing. Default 1s.
	LockTimeout time.Duration
	// ReverseBuffer is how many reverse-index writes are kept in memory (and in an
	// append-only journal) before they are merged into the reverse index. Larger
	// values make bulk imports cheaper and the file smaller (each merge rewrites the
	// reverse-index pages it touches) and cost about 70 bytes of memory each, twice
	// that while buffers are combined. Default 400,000.
	ReverseBuffer int
}

// Store is the embedded datastore: one bbolt file, fsynced on every commit.
type Store struct {
	db        *bbolt.DB
	dir       string
	opts      datastore.Options
	id        string
	quantizer *datastore.Quantizer

	// adminMu serialises tenant creation and deletion.
	adminMu sync.Mutex
	// commitMu serialises commits with the reverse-index overlay: a commit's bbolt
	// transaction, its overlay entries and a merge of the overlay happen in one order.
	commitMu      sync.Mutex
	overlay       *overlay
	reverseBuffer int

	mu       sync.Mutex // guards the fields below
	tenants  map[string]*tenant
	closed   bool
	inflight int        // writes in progress; Close waits for them
	idle     *sync.Cond // signalled when inflight drops to 0
}

var _ datastore.Datastore = (*Store)(nil)

// tenant is the in-process state of one tenant. The file is the record; this caches
// what every request needs (the head) and carries the writer lock and the commit
// notification.
type tenant struct {
	name      string
	id        uint32
	createdAt time.Time

	// writeMu serialises the tenant's write transactions, so a transaction's snapshot
	// is the current state for as long as it runs.
	writeMu sync.Mutex
	// last is the time of the newest commit; only writers (holding writeMu) use it.
	last time.Time

	mu      sync.Mutex // guards the fields below
	head    datastore.Revision
	oldest  datastore.Revision
	changed chan struct{} // closed and replaced on every commit
	gone    error         // set when the tenant was deleted or the store closed
}

func (t *tenant) state() (head, oldest datastore.Revision, changed chan struct{}, gone error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.head, t.oldest, t.changed, t.gone
}

// end marks the tenant unusable with err and wakes its watchers.
func (t *tenant) end(err error) {
	t.mu.Lock()
	if t.gone == nil {
		t.gone = err
		close(t.changed)
		t.changed = make(chan struct{})
	}
	t.mu.Unlock()
}

// Open opens (creating if needed) the datastore in directory dir. Another process
// holding the same directory makes Open fail after opts.LockTimeout.
func Open(dir string, opts Options) (*Store, error) {
	if dir == "" {
		return nil, fmt.Errorf("datastore path is empty: %w", datastore.ErrInvalidArgument)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating datastore directory: %w", err)
	}
	timeout := opts.LockTimeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	file := filepath.Join(dir, FileName)
	db, err := bbolt.Open(file, 0o600, &bbolt.Options{
		Timeout:      timeout,
		FreelistType: bbolt.FreelistMapType,
		NoStatistics: true,
		// Map generously up front so growth rarely has to remap (a remap waits for
		// every open read transaction).
		InitialMmapSize: 1 << 30,
	})
	if errors.Is(err, bberrors.ErrTimeout) {
		return nil, fmt.Errorf("datastore at %s is %w (its file lock was not released within %s)", dir, ErrInUse, timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("opening datastore at %s: %w", dir, err)
	}
	s := &Store{db: db, dir: dir, opts: opts.Options.WithDefaults(), tenants: map[string]*tenant{},
		overlay: newOverlay(), reverseBuffer: opts.ReverseBuffer}
	if s.reverseBuffer <= 0 {
		s.reverseBuffer = DefaultReverseBuffer
	}
	s.idle = sync.NewCond(&s.mu)
	s.quantizer = &datastore.Quantizer{Window: s.opts.QuantizationWindow, Now: s.opts.Now, Head: s.HeadRevision}
	if err := s.init(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("opening datastore at %s: %w", dir, err)
	}
	return s, nil
}

// init creates the buckets and the default tenant of a new file, checks the format of
// an existing one, loads the tenants and finishes purges a crash interrupted.
func (s *Store) init() error {
	var dropped []uint32
	err := s.db.Update(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get([]byte("format")); {
		case v == nil:
			var b [16]byte
			if _, err := rand.Read(b[:]); err != nil {
				return err
			}
			if err := meta.Put([]byte("format"), []byte(formatVersion)); err != nil {
				return err
			}
			if err := meta.Put([]byte("id"), []byte("bolt-"+hex.EncodeToString(b[:]))); err != nil {
				return err
			}
		case string(v) != formatVersion:
			return fmt.Errorf("the file has format version %q; this Pemba reads version %s", v, formatVersion)
		}
		s.id = string(meta.Get([]byte("id")))
		if err := replayReverse(tx); err != nil {
			return fmt.Errorf("replaying the reverse-index journal: %w", err)
		}
		if tx.Bucket(bucketTenants).Get([]byte(tuple.DefaultTenant)) == nil {
			if _, err := createTenant(tx, tuple.DefaultTenant, s.opts.Now()); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketTenants).ForEach(func(k, v []byte) error {
			rec, err := decodeTenantRecord(v)
			if err != nil {
				return fmt.Errorf("tenant %q: %w", k, err)
			}
			s.tenants[string(k)] = newTenant(string(k), rec)
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(bucketDropped).ForEach(func(k, _ []byte) error {
			dropped = append(dropped, binary.BigEndian.Uint32(k))
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, id := range dropped {
		if err := s.purge(id); err != nil {
			return err
		}
	}
	return nil
}

func newTenant(name string, rec tenantRecord) *tenant {
	return &tenant{name: name, id: rec.id, createdAt: rec.createdAt, head: rec.head, oldest: rec.oldest,
		last: rec.last, changed: make(chan struct{})}
}

// createTenant stores a new tenant record with the next tenant id.
func createTenant(tx *bbolt.Tx, name string, now time.Time) (tenantRecord, error) {
	meta := tx.Bucket(bucketMeta)
	var next uint32 = 1
	if v := meta.Get([]byte("next_tenant")); len(v) == 4 {
		next = binary.BigEndian.Uint32(v)
	}
	if next == 0 {
		return tenantRecord{}, errors.New("tenant ids exhausted")
	}
	if err := meta.Put([]byte("next_tenant"), binary.BigEndian.AppendUint32(nil, next+1)); err != nil {
		return tenantRecord{}, err
	}
	rec := tenantRecord{id: next, createdAt: now}
	return rec, tx.Bucket(bucketTenants).Put([]byte(name), rec.encode())
}

// Path returns the datastore directory.
func (s *Store) Path() string { return s.dir }

// UniqueID implements datastore.Datastore. It is created with the file and kept in it.
func (s *Store) UniqueID() string { return s.id }

// enter registers a write in progress; Close waits for it. leave ends it.
func (s *Store) enter() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return datastore.ErrClosed
	}
	s.inflight++
	return nil
}

func (s *Store) leave() {
	s.mu.Lock()
	s.inflight--
	if s.inflight == 0 {
		s.idle.Broadcast()
	}
	s.mu.Unlock()
}

func (s *Store) tenant(name string) (*tenant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, datastore.ErrClosed
	}
	t, ok := s.tenants[name]
	if !ok {
		return nil, datastore.TenantNotFound(name)
	}
	return t, nil
}

// ErrDiskFull: a commit failed because the file system holding the datastore has no
// space left (or the quota is used up). The commit was rolled back; reads go on, and
// writes succeed again once there is space.
var ErrDiskFull = datastore.Sentinel("the disk holding the embedded datastore is full", datastore.ErrResourceExhausted)

// mapErr turns bbolt's errors for a closed database into ErrClosed and a file system
// out of space into ErrDiskFull.
func mapErr(err error) error {
	switch {
	case err == nil || errors.Is(err, ErrDiskFull):
		return err
	case errors.Is(err, bberrors.ErrDatabaseNotOpen) || errors.Is(err, bberrors.ErrTxClosed):
		return datastore.ErrClosed
	case isDiskFull(err):
		return fmt.Errorf("%w, so nothing was written; free space on it and retry: %w", ErrDiskFull, err)
	}
	return err
}

// isDiskFull reports whether err says the file system is out of space or quota.
func isDiskFull(err error) bool {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	// bbolt formats the errors of growing the file with %s, which drops the errno.
	msg := err.Error()
	return strings.Contains(msg, syscall.ENOSPC.Error()) || strings.Contains(msg, syscall.EDQUOT.Error())
}

// CreateTenant implements datastore.Datastore.
func (s *Store) CreateTenant(_ context.Context, name string) error {
	if err := tuple.ValidateTenantName(name); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	s.adminMu.Lock()
	defer s.adminMu.Unlock()
	if _, err := s.tenant(name); err == nil {
		return fmt.Errorf("tenant %q: %w", name, datastore.ErrTenantExists)
	}
	var rec tenantRecord
	if err := s.db.Update(func(tx *bbolt.Tx) (err error) {
		rec, err = createTenant(tx, name, s.opts.Now())
		return err
	}); err != nil {
		return mapErr(err)
	}
	s.mu.Lock()
	s.tenants[name] = newTenant(name, rec)
	s.mu.Unlock()
	return nil
}

// DeleteTenant implements datastore.Datastore. The tenant disappears in one commit;
// its rows are then removed in bounded batches (and the removal resumes on the next
// Open if the process stops first).
func (s *Store) DeleteTenant(_ context.Context, name string) error {
	if name == tuple.DefaultTenant {
		return fmt.Errorf("the %q tenant cannot be deleted: %w", name, datastore.ErrInvalidArgument)
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	s.adminMu.Lock()
	defer s.adminMu.Unlock()
	t, err := s.tenant(name)
	if err != nil {
		return err
	}
	t.writeMu.Lock() // a transaction in progress finishes first
	err = s.db.Update(func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketTenants).Delete([]byte(name)); err != nil {
			return err
		}
		if err := deleteTenantDecisions(tx, name); err != nil {
			return err
		}
		return tx.Bucket(bucketDropped).Put(appendTenant(nil, t.id), nil)
	})
	if err != nil {
		t.writeMu.Unlock()
		return mapErr(err)
	}
	s.mu.Lock()
	delete(s.tenants, name)
	s.mu.Unlock()
	// The tenant's buffered reverse-index writes must not be merged back in while
	// its rows are purged.
	s.commitMu.Lock()
	s.overlay.removePrefix(tenantPrefix(t.id))
	s.commitMu.Unlock()
	t.end(datastore.TenantNotFound(name))
	t.writeMu.Unlock()
	s.quantizer.Forget(name)
	return s.purge(t.id)
}

// ListTenants implements datastore.Datastore.
func (s *Store) ListTenants(context.Context) ([]datastore.TenantInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, datastore.ErrClosed
	}
	out := make([]datastore.TenantInfo, 0, len(s.tenants))
	for name, t := range s.tenants {
		out = append(out, datastore.TenantInfo{Name: name, CreatedAt: t.createdAt})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// HeadRevision implements datastore.Datastore.
func (s *Store) HeadRevision(_ context.Context, name string) (datastore.Revision, error) {
	t, err := s.tenant(name)
	if err != nil {
		return 0, err
	}
	head, _, _, gone := t.state()
	return head, gone
}

// OptimizedRevision implements datastore.Datastore.
func (s *Store) OptimizedRevision(ctx context.Context, name string) (datastore.Revision, error) {
	return s.quantizer.Revision(ctx, name)
}

// CheckRevision implements datastore.Datastore.
func (s *Store) CheckRevision(_ context.Context, name string, rev datastore.Revision) error {
	t, err := s.tenant(name)
	if err != nil {
		return err
	}
	head, oldest, _, gone := t.state()
	switch {
	case gone != nil:
		return gone
	case rev > head:
		return &datastore.RevisionError{Revision: rev, Head: head}
	case rev < oldest:
		return &datastore.RevisionError{Revision: rev, TooOld: true, Oldest: oldest, Head: head}
	}
	return nil
}

// Statistics implements datastore.Datastore.
func (s *Store) Statistics(_ context.Context, name string) (datastore.Stats, error) {
	t, err := s.tenant(name)
	if err != nil {
		return datastore.Stats{}, err
	}
	st := datastore.Stats{ByResourceType: map[string]int64{}}
	err = s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketTenants).Get([]byte(name))
		if v == nil {
			return datastore.TenantNotFound(name)
		}
		rec, err := decodeTenantRecord(v)
		if err != nil {
			return err
		}
		if rec.id != t.id {
			return datastore.TenantNotFound(name)
		}
		st.Revision, st.Transactions = rec.head, rec.txCount
		prefix := tenantPrefix(t.id)
		c := tx.Bucket(bucketCounts).Cursor()
		for k, v := c.Seek(prefix); hasTenant(k, t.id); k, v = c.Next() {
			if n := int64(binary.BigEndian.Uint64(v)); n > 0 {
				st.ByResourceType[string(k[tenantIDLen:])] = n
				st.Relationships += n
			}
		}
		return nil
	})
	return st, mapErr(err)
}

// Close implements datastore.Datastore. Writes in progress finish first; watches end
// with datastore.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for s.inflight > 0 {
		s.idle.Wait()
	}
	tenants := s.tenants
	s.mu.Unlock()
	for _, t := range tenants {
		t.end(datastore.ErrClosed)
	}
	// Merge the overlay so a cleanly closed file has an empty journal; if this fails
	// the next Open replays the journal.
	s.commitMu.Lock()
	ferr := s.flushReverse()
	s.commitMu.Unlock()
	return errors.Join(ferr, s.db.Close())
}
