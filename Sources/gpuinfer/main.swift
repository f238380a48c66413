// The gpuinfer command-line tool.
import ArgumentParser
import GPUInfer

GPUInferCommand.main()
