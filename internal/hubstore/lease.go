package hubstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"upshift.dev/upshift/internal/names"
	"upshift.dev/upshift/internal/store"
)

// ErrLeaseLost says this process no longer holds the run's lease: another
// driver may have it, and this one must write nothing more.
var ErrLeaseLost = errors.New("this driver lost the run's lease")

// A run's driver lease is fenced as client-go's leader election is:
//
//   - Another holder's lease has expired when its record (its
//     resourceVersion) has not changed for the lease's duration, measured
//     on this process's clock from when it first saw that record, never by
//     comparing the holder's RenewTime with this clock.
//   - The holder counts its lease valid for the duration after its last
//     successful renewal, on its own monotonic clock. Past that (a long
//     pause, a partition), or when a renewal finds another holder, the
//     lease is lost for good: Lost's channel closes and every status write
//     of the run is refused from then on.
//   - A status write that conflicts is retried only after the lease was
//     read back and found still ours.

// held is a lease this process holds.
type held struct {
	d        time.Duration
	mu       sync.Mutex
	renewed  time.Time
	lost     chan struct{}
	lostOnce sync.Once
}

func (h *held) renew(at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.renewed = at
}

// valid says the lease is still ours by this process's clock.
func (h *held) valid() bool {
	select {
	case <-h.lost:
		return false
	default:
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return time.Since(h.renewed) < h.d
}

func (h *held) lose() { h.lostOnce.Do(func() { close(h.lost) }) }

// observation is a lease record of another holder as first seen here.
type observation struct {
	version string
	at      time.Time
}

// Lock takes the run's Lease (<run>-driver): free, expired or ours. It is
// renewed until the returned func releases it; a driver that dies loses
// it within LeaseDuration, and one that cannot renew it in time loses it
// too (Lost).
func (s *Store) Lock(name string) (func(), error) {
	if err := names.Subdomain("run", name); err != nil {
		return nil, err
	}
	d := s.LeaseDuration
	if d == 0 {
		d = 15 * time.Second
	}
	taken := time.Now()
	if err := s.acquire(name, d); err != nil {
		return nil, err
	}
	h := &held{d: d, renewed: taken, lost: make(chan struct{})}
	s.held.Store(name, h)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(d / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-h.lost:
				return
			case <-t.C:
			}
			if !h.valid() {
				h.lose() // paused or cut off past the lease: another may hold it
				return
			}
			at := time.Now()
			err := s.acquire(name, d)
			switch {
			case err == nil:
				h.renew(at)
			case errors.Is(err, store.ErrLocked):
				h.lose()
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			<-done
			s.held.Delete(name)
			select {
			case <-h.lost:
			default:
				s.release(name)
			}
		})
	}, nil
}

// Lost returns a channel closed once this process has lost the lease of
// the run it holds; nil when it holds none.
func (s *Store) Lost(name string) <-chan struct{} {
	if h, ok := s.held.Load(name); ok {
		return h.(*held).lost
	}
	return nil
}

// fenced refuses a status write of a run whose lease this process held
// and lost. A store that holds no lease of the run (a CLI's request, a
// status written before driving) is not fenced.
func (s *Store) fenced(name string) error {
	h, ok := s.held.Load(name)
	if !ok {
		return nil
	}
	if !h.(*held).valid() {
		h.(*held).lose()
		return fmt.Errorf("run %s: %w; status not written", name, ErrLeaseLost)
	}
	return nil
}

// stillOurs reads the run's lease back before a status write that
// conflicted is done again from a fresh read.
func (s *Store) stillOurs(ctx context.Context, name string) error {
	h, ok := s.held.Load(name)
	if !ok {
		return nil
	}
	lease := &coordinationv1.Lease{}
	if err := s.Client.Get(ctx, s.key(name+"-driver"), lease); err != nil {
		return err
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != s.identity() {
		h.(*held).lose()
		return fmt.Errorf("run %s: %w; status not written", name, ErrLeaseLost)
	}
	return nil
}

// fieldOwner names this process in the runs' managedFields, so that who
// wrote a status last can be told apart.
func (s *Store) fieldOwner() string {
	id := s.identity()
	return "upshift/" + id[:min(len(id), 100)]
}

func (s *Store) identity() string {
	if s.Identity != "" {
		return s.Identity
	}
	host, _ := os.Hostname()
	return host + "_" + strconv.Itoa(os.Getpid())
}

// Observe records a run lease's record as seen now, if it is new to this
// process. A hub watches the run leases on every replica, so that a
// standby that becomes leader knows already how long a dead driver's
// lease has stood unchanged.
func (s *Store) Observe(lease *coordinationv1.Lease) {
	name := lease.Labels[LabelRun]
	if name == "" {
		return
	}
	s.observe(name, lease)
}

func (s *Store) observe(name string, lease *coordinationv1.Lease) observation {
	for {
		prev, ok := s.observed.Load(name)
		if ok && prev.(observation).version == lease.ResourceVersion {
			return prev.(observation)
		}
		next := observation{version: lease.ResourceVersion, at: time.Now()}
		if !ok {
			if _, raced := s.observed.LoadOrStore(name, next); !raced {
				return next
			}
			continue
		}
		if s.observed.CompareAndSwap(name, prev, next) {
			return next
		}
	}
}

// expired says whether another holder's lease has run out, by how long
// this process has seen its record unchanged.
func (s *Store) expired(name string, lease *coordinationv1.Lease) bool {
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		return true
	}
	d := time.Duration(0)
	if lease.Spec.LeaseDurationSeconds != nil {
		d = time.Duration(*lease.Spec.LeaseDurationSeconds) * time.Second
	}
	return time.Since(s.observe(name, lease).at) > d
}

// acquire takes or renews the lease.
func (s *Store) acquire(name string, d time.Duration) error {
	ctx, cancel := s.ctx()
	defer cancel()
	now := metav1.NewMicroTime(time.Now())
	secs := int32(d.Seconds())
	id := s.identity()
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		lease := &coordinationv1.Lease{}
		err := s.Client.Get(ctx, s.key(name+"-driver"), lease)
		if apierrors.IsNotFound(err) {
			lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: name + "-driver", Labels: map[string]string{LabelRun: name}},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: &id, LeaseDurationSeconds: &secs, AcquireTime: &now, RenewTime: &now}}
			// Deleted with its run (retention, kubectl delete ur).
			if owner, err := s.get(ctx, name); err == nil {
				if err := controllerutil.SetOwnerReference(owner, lease, s.Client.Scheme()); err != nil {
					return err
				}
			}
			err = s.Client.Create(ctx, lease)
			if apierrors.IsAlreadyExists(err) {
				return apierrors.NewConflict(coordinationv1.Resource("leases"), lease.Name, err)
			}
			return err
		}
		if err != nil {
			return err
		}
		holder := ""
		if lease.Spec.HolderIdentity != nil {
			holder = *lease.Spec.HolderIdentity
		}
		if holder != "" && holder != id && !s.expired(name, lease) {
			return fmt.Errorf("%w %s (held by %s)", store.ErrLocked, name, holder)
		}
		if holder != id {
			lease.Spec.AcquireTime = &now
		}
		lease.Spec.HolderIdentity, lease.Spec.LeaseDurationSeconds, lease.Spec.RenewTime = &id, &secs, &now
		return s.Client.Update(ctx, lease)
	})
}

// release gives the lease up if it is still ours.
func (s *Store) release(name string) {
	ctx, cancel := s.ctx()
	defer cancel()
	_ = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		lease := &coordinationv1.Lease{}
		if err := s.Client.Get(ctx, s.key(name+"-driver"), lease); err != nil {
			return client.IgnoreNotFound(err)
		}
		if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != s.identity() {
			return nil
		}
		lease.Spec.HolderIdentity = nil
		return s.Client.Update(ctx, lease)
	})
}
