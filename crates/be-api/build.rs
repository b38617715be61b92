//! Compiles the wire messages (`proto/rigel.proto`) with protox: no protoc needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/rigel.proto");
    let files = protox::compile(["rigel.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(false)
        .compile_fds(files)?;
    Ok(())
}
