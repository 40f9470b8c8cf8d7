package lru

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

// op is one step of a table test: "add k size", "get k", "remove k" or "purge".
type op struct {
	do   string
	key  string
	size int64
	ok   bool // what Add, Get or Remove reports
}

func TestCache(t *testing.T) {
	for _, tt := range []struct {
		name             string
		budget, maxEntry int64
		ops              []op
		keys             []string // kept afterwards, most recently used first
		size             int64
	}{
		{
			name: "empty", budget: 10, maxEntry: 10,
			ops: []op{{do: "get", key: "a"}, {do: "remove", key: "a"}},
		},
		{
			name: "within budget", budget: 10, maxEntry: 10,
			ops:  []op{{"add", "a", 3, true}, {"add", "b", 3, true}, {"add", "c", 4, true}},
			keys: []string{"c", "b", "a"}, size: 10,
		},
		{
			name: "least recently added goes first", budget: 10, maxEntry: 10,
			ops:  []op{{"add", "a", 4, true}, {"add", "b", 4, true}, {"add", "c", 4, true}},
			keys: []string{"c", "b"}, size: 8,
		},
		{
			name: "a get makes a value recent", budget: 10, maxEntry: 10,
			ops:  []op{{"add", "a", 4, true}, {"add", "b", 4, true}, {"get", "a", 0, true}, {"add", "c", 4, true}},
			keys: []string{"c", "a"}, size: 8,
		},
		{
			name: "one add evicts several", budget: 10, maxEntry: 10,
			ops:  []op{{"add", "a", 3, true}, {"add", "b", 3, true}, {"add", "c", 3, true}, {"add", "d", 9, true}},
			keys: []string{"d"}, size: 9,
		},
		{
			name: "a replaced value is recent and counted at its new size", budget: 10, maxEntry: 10,
			ops:  []op{{"add", "a", 2, true}, {"add", "b", 2, true}, {"add", "a", 7, true}, {"add", "c", 2, true}},
			keys: []string{"c", "a"}, size: 9,
		},
		{
			name: "a value bigger than maxEntry is not kept", budget: 10, maxEntry: 5,
			ops:  []op{{"add", "a", 5, true}, {"add", "b", 6, false}, {"get", "b", 0, false}},
			keys: []string{"a"}, size: 5,
		},
		{
			name: "a too big replacement leaves the old value", budget: 10, maxEntry: 5,
			ops:  []op{{"add", "a", 2, true}, {"add", "b", 2, true}, {"add", "a", 6, false}},
			keys: []string{"b", "a"}, size: 4,
		},
		{
			name: "the whole budget in one value", budget: 10, maxEntry: 10,
			ops:  []op{{"add", "a", 1, true}, {"add", "b", 10, true}},
			keys: []string{"b"}, size: 10,
		},
		{
			name: "remove", budget: 10, maxEntry: 10,
			ops:  []op{{"add", "a", 3, true}, {"add", "b", 3, true}, {"remove", "a", 0, true}, {"remove", "a", 0, false}, {"get", "a", 0, false}},
			keys: []string{"b"}, size: 3,
		},
		{
			name: "purge", budget: 10, maxEntry: 10,
			ops: []op{{"add", "a", 3, true}, {"add", "b", 3, true}, {do: "purge"}, {"get", "b", 0, false}},
		},
		{
			name: "zero sizes", budget: 0, maxEntry: 0,
			ops:  []op{{"add", "a", 0, true}, {"add", "b", 1, false}},
			keys: []string{"a"},
		},
		{
			name: "no budget keeps nothing", budget: -1, maxEntry: 0,
			ops: []op{{"add", "a", 0, true}, {"get", "a", 0, false}},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := New[string, string](tt.budget, tt.maxEntry)
			for i, o := range tt.ops {
				var ok bool
				switch o.do {
				case "add":
					ok = c.Add(o.key, fmt.Sprintf("%s#%d", o.key, i), o.size)
				case "get":
					var v string
					v, ok = c.Get(o.key)
					if ok != (v != "") || (ok && !strings.HasPrefix(v, o.key+"#")) {
						t.Fatalf("step %d: get %s = %q, %v", i, o.key, v, ok)
					}
				case "remove":
					ok = c.Remove(o.key)
				case "purge":
					c.Purge()
					continue
				}
				if ok != o.ok {
					t.Fatalf("step %d: %s %s reported %v, want %v", i, o.do, o.key, ok, o.ok)
				}
			}
			if got := keys(c); !slices.Equal(got, tt.keys) {
				t.Errorf("kept %v, want %v", got, tt.keys)
			}
			if c.Len() != len(tt.keys) || c.Size() != tt.size {
				t.Errorf("Len %d, Size %d; want %d, %d", c.Len(), c.Size(), len(tt.keys), tt.size)
			}
		})
	}
}

// TestCacheLatestValue: Get returns what the last Add under the key kept.
func TestCacheLatestValue(t *testing.T) {
	c := New[int, []byte](100, 100)
	c.Add(1, []byte("old"), 3)
	c.Add(1, []byte("new!"), 4)
	if v, ok := c.Get(1); !ok || string(v) != "new!" {
		t.Errorf("got %q, %v", v, ok)
	}
	if c.Size() != 4 {
		t.Errorf("size %d, want 4", c.Size())
	}
}

// keys lists the cache's keys from the most to the least recently used.
func keys[K comparable, V any](c *Cache[K, V]) []K {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []K
	for el := c.order.Front(); el != nil; el = el.Next() {
		out = append(out, el.Value.(*entry[K, V]).key)
	}
	return out
}

// TestCacheConcurrent runs adds, gets and removes from several goroutines (meaningful under
// -race) and checks the accounting afterwards: the size is the sum of what is kept, within
// the budget, and every key maps to its own value.
func TestCacheConcurrent(t *testing.T) {
	const budget = 1000
	c := New[int, int](budget, budget/2)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				k := (g*7 + i) % 50
				switch i % 5 {
				case 0, 1:
					c.Add(k, k, int64(k*3))
				case 2, 3:
					if v, ok := c.Get(k); ok && v != k {
						t.Errorf("key %d holds %d", k, v)
					}
				case 4:
					if i%25 == 4 {
						c.Remove(k)
					}
				}
				if g == 0 && i%500 == 0 {
					c.Purge()
				}
			}
		}()
	}
	wg.Wait()
	var sum int64
	c.mu.Lock()
	for el := c.order.Front(); el != nil; el = el.Next() {
		e := el.Value.(*entry[int, int])
		if c.items[e.key] != el || e.val != e.key {
			t.Errorf("entry %d inconsistent", e.key)
		}
		sum += e.size
	}
	if len(c.items) != c.order.Len() {
		t.Errorf("%d items, %d in order", len(c.items), c.order.Len())
	}
	c.mu.Unlock()
	if sum != c.Size() || sum > budget {
		t.Errorf("size %d, entries sum to %d, budget %d", c.Size(), sum, budget)
	}
}
