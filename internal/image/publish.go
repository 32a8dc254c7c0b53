package image

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Index is a multi-platform index of images built by Build, each entry
// naming its platform, with the labels of the first as annotations.
func Index(images ...v1.Image) (v1.ImageIndex, error) {
	var idx v1.ImageIndex = empty.Index
	idx = mutate.IndexMediaType(idx, types.OCIImageIndex)
	var labels map[string]string
	for _, img := range images {
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
		if labels == nil {
			labels = cf.Config.Labels
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: cf.Platform(), MediaType: types.OCIManifestSchema1},
		})
	}
	return mutate.Annotations(idx, labels).(v1.ImageIndex), nil
}

// WriteLayout writes the index as an OCI image layout in dir (what
// `skopeo copy oci:DIR …` or `crane push DIR` publish later).
func WriteLayout(dir string, idx v1.ImageIndex) error {
	if _, err := layout.Write(dir, idx); err != nil {
		return fmt.Errorf("image: writing the OCI layout %s: %w", dir, err)
	}
	return nil
}

// WriteTarball writes one image as a tarball `docker load` and `kind load
// image-archive` read, tagged ref.
func WriteTarball(path, ref string, img v1.Image) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("image: tag %q: %w", ref, err)
	}
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		return fmt.Errorf("image: writing %s: %w", path, err)
	}
	return nil
}

// Push pushes the index to ref (registry/repository:tag) with the
// credentials of the user's Docker config (`docker login`, credential
// helpers). Registries on localhost and private addresses are reached over
// plain HTTP, as go-containerregistry does.
func Push(ref string, idx v1.ImageIndex) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("image: reference %q: %w", ref, err)
	}
	if err := remote.WriteIndex(r, idx, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return nil, fmt.Errorf("image: pushing %s: %w", r, err)
	}
	return r, nil
}
