// Package lru is the in-memory cache pacsd keeps derived data in (WADO-RS instance records
// and metadata bodies, decoded frames, the viewer's prepared frames): a map that forgets
// its least recently used entries to stay within a byte budget. Everything in it can be
// built again, so forgetting is always safe.
package lru

import (
	"container/list"
	"sync"
)

// Cache is a least-recently-used map bounded by the summed sizes of its values. It is
// safe for concurrent use.
type Cache[K comparable, V any] struct {
	budget   int64 // the summed sizes kept at most
	maxEntry int64 // the size of the largest value kept

	mu    sync.Mutex
	size  int64
	order *list.List // of *entry[K, V], most recently used at the front
	items map[K]*list.Element
}

type entry[K comparable, V any] struct {
	key  K
	val  V
	size int64
}

// New returns a cache holding values whose sizes sum to at most budget, each value at
// most maxEntry: a value bigger than that is not kept, as it would push out much else for
// one request's benefit.
func New[K comparable, V any](budget, maxEntry int64) *Cache[K, V] {
	return &Cache[K, V]{budget: budget, maxEntry: maxEntry, order: list.New(), items: map[K]*list.Element{}}
}

// Get returns the value kept under key, and makes it the most recently used.
func (c *Cache[K, V]) Get(key K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*entry[K, V]).val, true
}

// Add keeps val under key, counted as size bytes, as the most recently used value, and
// forgets the least recently used ones until the budget holds. A value bigger than
// maxEntry is not kept (a value already under key stays); Add reports whether val was.
func (c *Cache[K, V]) Add(key K, val V, size int64) bool {
	if size > c.maxEntry {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		e := el.Value.(*entry[K, V])
		c.size += size - e.size
		e.val, e.size = val, size
		c.order.MoveToFront(el)
	} else {
		c.items[key] = c.order.PushFront(&entry[K, V]{key: key, val: val, size: size})
		c.size += size
	}
	for c.size > c.budget && c.order.Len() > 0 {
		c.remove(c.order.Back())
	}
	return true
}

// Remove forgets the value under key; it reports whether there was one.
func (c *Cache[K, V]) Remove(key K) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if ok {
		c.remove(el)
	}
	return ok
}

func (c *Cache[K, V]) remove(el *list.Element) {
	e := el.Value.(*entry[K, V])
	c.order.Remove(el)
	delete(c.items, e.key)
	c.size -= e.size
}

// Purge forgets everything.
func (c *Cache[K, V]) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.order.Init()
	c.items = map[K]*list.Element{}
	c.size = 0
}

// Len is the number of values kept.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

// Size is the summed size of the values kept.
func (c *Cache[K, V]) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}
