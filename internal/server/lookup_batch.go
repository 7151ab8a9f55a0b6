package server

// maxLookupBatch caps a lookup's batch_size: a batch is one gRPC message, and the
// message size limit must hold for any batch of results.
const maxLookupBatch = 1000

// lookupBatcher gathers a lookup's results into batches of size and hands each full
// batch, and the last one, to send. A lookup that asked for no batching never uses
// one.
type lookupBatcher[T any] struct {
	size  int
	items []T
	send  func([]T) error
}

func newLookupBatcher[T any](requested uint32, send func([]T) error) *lookupBatcher[T] {
	size := int(min(requested, maxLookupBatch))
	return &lookupBatcher[T]{size: size, items: make([]T, 0, size), send: send}
}

// add queues one result, sending the batch when it is full.
func (b *lookupBatcher[T]) add(item T) error {
	b.items = append(b.items, item)
	if len(b.items) < b.size {
		return nil
	}
	return b.flush()
}

// flush sends the results queued, if any. The stream has encoded the message when
// send returns, so the slice is reused.
func (b *lookupBatcher[T]) flush() error {
	if len(b.items) == 0 {
		return nil
	}
	err := b.send(b.items)
	clear(b.items)
	b.items = b.items[:0]
	return err
}
