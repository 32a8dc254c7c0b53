package hubstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"upshift.dev/upshift/api/v1alpha1"
)

// A hub keeps each cluster's part of a run — phase, steps, messages, its
// move — in an UpdateRunMember the run owns, and the run's stages keep
// only how many they hold (StageStatus.ClusterCount). The run's status
// stays small however many members the fleet has (it grew about 790 bytes
// per member and passed etcd's object limit near 1,900), and a save
// writes only the members that changed since the last one. Members are
// written before the run, so a run read back never names a cluster whose
// member is older than it.

// memberWriters bounds the member writes one save sends at once.
const memberWriters = 16

// memberName is the UpdateRunMember of a run's cluster: readable, and
// unique per run and cluster however the two are cut.
func memberName(run, cluster string) string {
	sum := sha256.Sum256([]byte(run + "/" + cluster))
	cut := func(s string) string { return strings.TrimRight(s[:min(len(s), 60)], ".-") }
	return cut(run) + "-" + cut(cluster) + "-" + hex.EncodeToString(sum[:])[:8]
}

// memberRecord is what a member holds, as compared between saves.
type memberRecord struct {
	Stage  string                      `json:"stage"`
	Index  int                         `json:"index"`
	Status v1alpha1.StageClusterStatus `json:"status"`
}

// members is what this process knows of a run's UpdateRunMembers.
type members struct {
	mu      sync.Mutex // one save of the run's members at a time; guards the rest
	loaded  bool
	owner   metav1.OwnerReference
	written map[string][]byte // member name → the record it holds
	version map[string]string // member name → its resourceVersion
	stageOf map[string]string // member name → its stage
}

func (s *Store) membersOf(name string) *members {
	m, _ := s.members.LoadOrStore(name, &members{})
	return m.(*members)
}

// forget drops what this process knew of a run's members and status
// writes: the run was deleted, made again, or written by someone else.
func (s *Store) forget(name string) {
	s.members.Delete(name)
	s.versions.Delete(name)
}

// saveMembers writes the UpdateRunMember of every cluster of status whose
// record changed since this process last wrote or read it (and deletes
// those of clusters the status no longer holds), then returns the status
// to store in the run: each stage's clusters replaced by their count.
func (s *Store) saveMembers(ctx context.Context, name string, status *v1alpha1.UpdateRunStatus) (*v1alpha1.UpdateRunStatus, error) {
	m := s.membersOf(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.loaded {
		if err := s.loadMembers(ctx, name, m); err != nil {
			return nil, err
		}
	}
	type write struct {
		name   string
		record []byte
		obj    *v1alpha1.UpdateRunMember
	}
	var writes []write
	keep := map[string]bool{}
	listed := map[string]bool{} // stages whose clusters this status holds
	out := *status
	out.Stages = make([]v1alpha1.StageStatus, len(status.Stages))
	for i, st := range status.Stages {
		out.Stages[i] = st
		if len(st.Clusters) == 0 {
			continue
		}
		out.Stages[i].Clusters, out.Stages[i].ClusterCount = []v1alpha1.StageClusterStatus{}, len(st.Clusters)
		listed[st.Name] = true
		for j, c := range st.Clusters {
			mn := memberName(name, c.Name)
			keep[mn] = true
			rec, err := json.Marshal(memberRecord{Stage: st.Name, Index: j, Status: c})
			if err != nil {
				return nil, err
			}
			if bytes.Equal(rec, m.written[mn]) {
				continue
			}
			obj := &v1alpha1.UpdateRunMember{
				ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: mn, Labels: map[string]string{LabelRun: name},
					OwnerReferences: []metav1.OwnerReference{m.owner}, ResourceVersion: m.version[mn]},
				Run: name, Stage: st.Name, Index: j, Status: *c.DeepCopy(),
			}
			writes = append(writes, write{name: mn, record: rec, obj: obj})
		}
	}
	// A member is deleted only when its stage's clusters are listed and
	// it is not among them: a status that does not hold a stage's
	// clusters (read from the run object alone) deletes nothing.
	var gone []string
	for mn := range m.written {
		if !keep[mn] && listed[m.stageOf[mn]] {
			gone = append(gone, mn)
		}
	}

	var mu sync.Mutex // guards m.written and m.version while the writes run
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(memberWriters)
	for _, w := range writes {
		g.Go(func() error {
			if err := s.writeMember(gctx, name, w.obj); err != nil {
				return fmt.Errorf("run %s: cluster %s's UpdateRunMember %s: %w", name, w.obj.Status.Name, w.name, err)
			}
			mu.Lock()
			m.written[w.name], m.version[w.name], m.stageOf[w.name] = w.record, w.obj.ResourceVersion, w.obj.Stage
			mu.Unlock()
			return nil
		})
	}
	for _, mn := range gone {
		g.Go(func() error {
			obj := &v1alpha1.UpdateRunMember{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: mn}}
			if err := client.IgnoreNotFound(s.Client.Delete(gctx, obj)); err != nil {
				return fmt.Errorf("run %s: UpdateRunMember %s of a cluster the run no longer holds: %w", name, mn, err)
			}
			mu.Lock()
			delete(m.written, mn)
			delete(m.version, mn)
			delete(m.stageOf, mn)
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return &out, nil
}

// writeMember creates or updates one member against the version this
// process knows. A conflict (another driver wrote it, or this process
// never read it) is done again from a fresh read, once the run's lease is
// read back as ours.
func (s *Store) writeMember(ctx context.Context, run string, obj *v1alpha1.UpdateRunMember) error {
	owner := client.FieldOwner(s.fieldOwner())
	var err error
	if obj.ResourceVersion == "" {
		if err = s.Client.Create(ctx, obj, owner); err == nil || !apierrors.IsAlreadyExists(err) {
			return err
		}
	} else if err = s.Client.Update(ctx, obj, owner); err == nil || !apierrors.IsConflict(err) {
		return err
	}
	if err := s.stillOurs(ctx, run); err != nil {
		return err
	}
	cur := &v1alpha1.UpdateRunMember{}
	if err := s.Client.Get(ctx, client.ObjectKeyFromObject(obj), cur); err != nil {
		return err
	}
	obj.ResourceVersion = cur.ResourceVersion
	return s.Client.Update(ctx, obj, owner)
}

// loadMembers learns a run's owner reference and the members that exist
// (a driver that took the run over finds those its predecessor wrote, and
// rewrites only what changes).
func (s *Store) loadMembers(ctx context.Context, name string, m *members) error {
	run, err := s.get(ctx, name)
	if err != nil {
		return err
	}
	m.owner = metav1.OwnerReference{APIVersion: v1alpha1.GroupVersion, Kind: "UpdateRun", Name: run.Name, UID: run.UID,
		Controller: new(true), BlockOwnerDeletion: new(true)}
	var list v1alpha1.UpdateRunMemberList
	if err := s.Client.List(ctx, &list, client.InNamespace(s.Namespace), client.MatchingLabels{LabelRun: name}); err != nil {
		return err
	}
	m.written, m.version, m.stageOf = map[string][]byte{}, map[string]string{}, map[string]string{}
	for _, it := range list.Items {
		if !ownedBy(&it, run.UID) {
			continue // a member of an earlier run of the same name, going with it
		}
		rec, err := json.Marshal(memberRecord{Stage: it.Stage, Index: it.Index, Status: it.Status})
		if err != nil {
			return err
		}
		m.written[it.Name], m.version[it.Name], m.stageOf[it.Name] = rec, it.ResourceVersion, it.Stage
	}
	m.loaded = true
	return nil
}

func ownedBy(obj metav1.Object, uid types.UID) bool {
	for _, o := range obj.GetOwnerReferences() {
		if o.UID == uid {
			return true
		}
	}
	return false
}

// withMembers puts each stage's UpdateRunMembers, read from r, back into
// the runs. Strict (the driver's and the CLI's reads of the API server) a
// stage whose members are not all there is an error: a driver must never
// take a stage for smaller than it is. Otherwise (a watch cache that has
// not caught up yet) what is there is shown.
func (s *Store) withMembers(ctx context.Context, r client.Reader, strict bool, runs ...*v1alpha1.UpdateRun) error {
	need := map[string]*v1alpha1.UpdateRun{}
	for _, run := range runs {
		for _, st := range run.Status.Stages {
			if st.ClusterCount > 0 && len(st.Clusters) == 0 {
				need[run.Name] = run
			}
		}
	}
	if len(need) == 0 {
		return nil
	}
	opts := []client.ListOption{client.InNamespace(s.Namespace)}
	if len(need) == 1 {
		for name := range need {
			opts = append(opts, client.MatchingLabels{LabelRun: name})
		}
	} else {
		opts = append(opts, client.HasLabels{LabelRun})
	}
	var list v1alpha1.UpdateRunMemberList
	if err := r.List(ctx, &list, opts...); err != nil {
		return err
	}
	byStage := map[string][]*v1alpha1.UpdateRunMember{}
	for i := range list.Items {
		it := &list.Items[i]
		if run := need[it.Run]; run != nil && ownedBy(it, run.UID) {
			byStage[it.Run+"/"+it.Stage] = append(byStage[it.Run+"/"+it.Stage], it)
		}
	}
	for _, run := range need {
		for i := range run.Status.Stages {
			st := &run.Status.Stages[i]
			if st.ClusterCount == 0 || len(st.Clusters) > 0 {
				continue
			}
			found := byStage[run.Name+"/"+st.Name]
			sort.Slice(found, func(a, b int) bool { return found[a].Index < found[b].Index })
			st.Clusters = make([]v1alpha1.StageClusterStatus, 0, st.ClusterCount)
			for k, it := range found {
				if it.Index != k || k >= st.ClusterCount {
					break
				}
				st.Clusters = append(st.Clusters, it.Status)
			}
			if strict && len(st.Clusters) != st.ClusterCount {
				return fmt.Errorf("run %s: stage %s counts %d clusters, and %d of their UpdateRunMembers were found (kubectl -n %s get updaterunmembers -l %s=%s): was one deleted by hand?",
					run.Name, st.Name, st.ClusterCount, len(st.Clusters), s.Namespace, LabelRun, run.Name)
			}
		}
	}
	return nil
}
