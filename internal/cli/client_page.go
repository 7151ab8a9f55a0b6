package cli

import (
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// clientPageSize is the page size the CLI asks for when it follows pages itself: the
// server's default maximum, so a default server never refuses it.
const clientPageSize = 1000

// pageFunc fetches one page of at most size results (0: the server's page size)
// starting after cursor, prints them, and returns how many it got and the cursor of
// the last one.
type pageFunc func(size uint32, cursor string) (got uint32, last string, err error)

// fetchPages follows cursors until limit results were printed (0: all of them) or the
// server has no more. Errors are returned as the fetch gave them. next is the cursor to continue with when the limit stopped it
// and more may follow; it is empty when everything was printed.
func fetchPages(limit uint32, cursor string, fetch pageFunc) (total uint32, next string, err error) {
	serverPageSmaller := false
	for {
		var size uint32
		if limit > 0 && !serverPageSmaller {
			size = min(limit-total, clientPageSize)
		}
		got, last, err := fetch(size, cursor)
		total += got
		if err != nil && got == 0 && size > 0 && isPageLimitError(err) {
			serverPageSmaller = true
			continue
		}
		if err != nil {
			return total, "", err
		}
		if got == 0 || last == "" || (size > 0 && got < size) {
			return total, "", nil
		}
		cursor = last
		if limit > 0 && total >= limit {
			return total, cursor, nil
		}
	}
}

// tokenPageFunc fetches one page of at most size results (0: the server's page size)
// at pageToken, prints them, and returns how many it printed and the next page token.
type tokenPageFunc func(size uint32, pageToken string) (got uint32, next string, err error)

// fetchTokenPages follows page tokens until limit results were printed (0: all) or the
// last page. next is the page token to continue with when the limit stopped it.
func fetchTokenPages(limit uint32, pageToken string, fetch tokenPageFunc) (total uint32, next string, err error) {
	serverPageSmaller := false
	for {
		var size uint32
		if limit > 0 && !serverPageSmaller {
			size = min(limit-total, clientPageSize)
		}
		got, next, err := fetch(size, pageToken)
		if err != nil && got == 0 && size > 0 && isPageLimitError(err) {
			serverPageSmaller = true
			continue
		}
		total += got
		if err != nil || next == "" || got == 0 {
			return total, "", err
		}
		pageToken = next
		if limit > 0 && total >= limit {
			return total, next, nil
		}
	}
}

// isPageLimitError reports whether the server refused a page size above its
// --max-page-size. The pagers then ask for the server's own page size, which is
// smaller than what is left to fetch and so never overshoots the limit.
func isPageLimitError(err error) bool {
	st, ok := status.FromError(err)
	return ok && st.Code() == codes.InvalidArgument && strings.Contains(st.Message(), "max-page-size")
}
