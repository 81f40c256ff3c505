//go:build race

package projections_test

func init() { raceDetector = true }
