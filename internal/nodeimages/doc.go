// Package nodeimages is a node-image catalogue: the images a provider
// offers, when each was released and the CVEs each fixes. It reads and
// writes the feed file (kind NodeImageFeed) the local fleet keeps in its
// home, and answers what patching and compliance ask of it: the newest
// image, how many releases an image is behind, and which CVEs stay open on
// it.
package nodeimages
