package crds

import (
	"context"
	"embed"
	"fmt"
	"path"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

//go:embed bases/*.yaml
var bases embed.FS

// All reads the CRDs, in file order.
func All() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	entries, err := bases.ReadDir("bases")
	if err != nil {
		return nil, err
	}
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, e := range entries {
		data, err := bases.ReadFile(path.Join("bases", e.Name()))
		if err != nil {
			return nil, err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(data, crd); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		out = append(out, crd)
	}
	return out, nil
}

// Install creates or updates upshift's CRDs on a cluster and waits until
// the API server serves each of them (Established), at most timeout.
func Install(ctx context.Context, cfg *rest.Config, timeout time.Duration) error {
	all, err := All()
	if err != nil {
		return err
	}
	return Apply(ctx, cfg, all, timeout)
}

// Apply creates or updates CRDs (upshift's or another project's, such as
// the Gateway API's) and waits until the API server serves each of them.
func Apply(ctx context.Context, cfg *rest.Config, all []*apiextensionsv1.CustomResourceDefinition, timeout time.Duration) error {
	cs, err := clientset.NewForConfig(cfg)
	if err != nil {
		return err
	}
	api := cs.ApiextensionsV1().CustomResourceDefinitions()
	for _, crd := range all {
		_, err := api.Create(ctx, crd, metav1.CreateOptions{FieldManager: "upshift"})
		if apierrors.IsAlreadyExists(err) {
			err = updateCRD(ctx, cs, crd)
		}
		if err != nil {
			return fmt.Errorf("installing CRD %s: %w", crd.Name, err)
		}
	}
	for _, crd := range all {
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
			got, err := api.Get(ctx, crd.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, c := range got.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
				if c.Type == apiextensionsv1.NamesAccepted && c.Status == apiextensionsv1.ConditionFalse {
					return false, fmt.Errorf("names not accepted: %s", c.Message)
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("waiting for CRD %s to be served: %w", crd.Name, err)
		}
	}
	return nil
}

func updateCRD(ctx context.Context, cs clientset.Interface, crd *apiextensionsv1.CustomResourceDefinition) error {
	api := cs.ApiextensionsV1().CustomResourceDefinitions()
	current, err := api.Get(ctx, crd.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	next := crd.DeepCopy()
	next.ResourceVersion = current.ResourceVersion
	_, err = api.Update(ctx, next, metav1.UpdateOptions{FieldManager: "upshift"})
	return err
}
