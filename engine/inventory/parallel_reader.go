package inventory

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// readLinesParallel decodes a JSON-lines stream with several goroutines and
// hands the reports to fn in line order. Each worker has its own Decoder
// with dec's limits and shared Cache. The first error in line order stops
// the read; nothing after it reaches fn.
func readLinesParallel(ctx context.Context, r io.Reader, name string, dec *Decoder, workers int, fn func(*Report) error) error {
	type job struct {
		seq, line int
		data      []byte
		buf       []byte // data's buffer, for reuse once decoded
		err       error
	}
	type result struct {
		seq int
		rep *Report
		err error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan job, workers)
	results := make(chan result, workers)
	// window bounds the lines read but not yet handed to fn.
	window := make(chan struct{}, workers*4)
	// free holds line buffers back from the workers: Decode keeps nothing
	// of its input, so each line is read into a buffer a decoded line
	// gave back instead of a new one (2.5 GB of lines would otherwise be
	// as many bytes of garbage). Buffers above freeMax are dropped.
	const freeMax = 1 << 20
	free := make(chan []byte, workers*4+workers+1)
	release := func(b []byte) {
		if cap(b) <= freeMax {
			select {
			case free <- b[:0]:
			default:
			}
		}
	}

	var readErr error
	go func() {
		defer close(jobs)
		br := bufio.NewReaderSize(r, 64<<10)
		limit := dec.maxBytes()
		seq := 0
		for line := 1; ; line++ {
			var buf []byte
			select {
			case buf = <-free:
			default:
			}
			var err error
			tooLong := false
			for {
				var chunk []byte
				chunk, err = br.ReadSlice('\n')
				if !tooLong && len(buf)+len(chunk) > limit+1 {
					tooLong = true
				}
				if !tooLong {
					buf = append(buf, chunk...)
				}
				if !errors.Is(err, bufio.ErrBufferFull) {
					break
				}
			}
			if err != nil && !errors.Is(err, io.EOF) {
				readErr = fmt.Errorf("read %s: %w", name, err)
				return
			}
			j := job{seq: seq, line: line, data: bytes.TrimSpace(buf), buf: buf}
			if tooLong {
				j.err = &LineError{File: name, Line: line, Err: fmt.Errorf("%w: line longer than %d bytes", ErrTooLarge, limit)}
			}
			if len(j.data) == 0 && j.err == nil {
				release(buf)
			} else {
				select {
				case window <- struct{}{}:
				case <-ctx.Done():
					return
				}
				select {
				case jobs <- j:
					seq++
				case <-ctx.Done():
					return
				}
			}
			if errors.Is(err, io.EOF) {
				return
			}
		}
	}()

	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := &Decoder{Cache: dec.Cache, MaxBytes: dec.MaxBytes, MaxPackages: dec.MaxPackages}
			for j := range jobs {
				res := result{seq: j.seq, err: j.err}
				if res.err == nil {
					rep, err := d.Decode(j.data)
					if err != nil {
						le := &LineError{File: name, Line: j.line, Err: err}
						var inner *LineError
						if errors.As(err, &inner) {
							le.Err, le.Text = inner.Err, inner.Text
						}
						err = le
					}
					res.rep, res.err = rep, err
				}
				release(j.buf)
				select {
				case results <- res:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(results)
	}()

	pending := map[int]result{}
	next := 0
	for res := range results {
		pending[res.seq] = res
		for {
			x, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			<-window
			if x.err != nil {
				return x.err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(x.rep); err != nil {
				return err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return readErr
}
