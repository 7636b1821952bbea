//! Compiles the CUDA kernels' per-thread bodies (`cuda/common.cuh`, `cuda/embedding.cuh`) as host C, so the worker's tests
//! check the GPU's arithmetic against `gpushare-core` on machines without a GPU.
fn main() {
    println!("cargo:rerun-if-changed=cuda/common.cuh");
    println!("cargo:rerun-if-changed=cuda/host_check.c");
    println!("cargo:rerun-if-changed=cuda/embedding.cuh");
    println!("cargo:rerun-if-changed=cuda/host_embedding.c");
    cc::Build::new()
        .file("cuda/host_check.c")
        .file("cuda/host_embedding.c")
        .include("cuda")
        .flag_if_supported("-std=c11")
        .warnings(true)
        .extra_warnings(true)
        .compile("gpushare_host_kernels");
}
