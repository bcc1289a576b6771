"""The device's figures before anything is flashed: device-decoded scores, the bootstrap
intervals, the app's thresholds, and the selection of the candidate that ships. Imports infra,
device, dataset, training."""
