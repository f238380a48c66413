// The GPUInferKernels target: its only content is the Swift file that the EmbedKernels plugin
// generates from the *.cl files in this folder (see KernelSources.files).
