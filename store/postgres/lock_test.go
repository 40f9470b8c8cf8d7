package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"pacsd/internal/pgtest"
	"pacsd/store/postgres"
)

// TestLockInstanceAcrossIndexes: a SOP UID locked through one Index (one node) waits in
// the other until unlocked; another UID does not wait; a waiter whose context ends gives up
// with its error; a lock is taken again after its unlock.
func TestLockInstanceAcrossIndexes(t *testing.T) {
	ctx := context.Background()
	url := pgtest.DB(t)
	a, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const sop = "1.2.826.0.9.8.1"
	unlockA, err := a.LockInstance(ctx, sop)
	if err != nil {
		t.Fatal(err)
	}
	unlockOther, err := b.LockInstance(ctx, "1.2.826.0.9.8.2")
	if err != nil {
		t.Fatal(err)
	}
	unlockOther()

	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := b.LockInstance(short, sop); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LockInstance of a held UID until the deadline: %v, want context.DeadlineExceeded", err)
	}
	got := make(chan func(), 1)
	go func() {
		unlock, err := b.LockInstance(ctx, sop)
		if err != nil {
			t.Error(err)
			unlock = func() {}
		}
		got <- unlock
	}()
	select {
	case <-got:
		t.Fatal("node B took the lock node A holds")
	case <-time.After(300 * time.Millisecond):
	}
	unlockA()
	select {
	case unlockB := <-got:
		unlockB()
	case <-time.After(10 * time.Second):
		t.Fatal("node B did not get the lock after node A's unlock")
	}
	unlockA, err = a.LockInstance(ctx, sop)
	if err != nil {
		t.Fatal(err)
	}
	unlockA()
}
