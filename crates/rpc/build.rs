//! Compiles the gRPC services (`proto/services.proto`) with protox: no protoc needed. The
//! messages they use are rigel-be-api's.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/services.proto");
    println!("cargo:rerun-if-changed=../be-api/proto/rigel.proto");
    let files = protox::compile(["services.proto"], ["proto", "../be-api/proto"])?;
    tonic_prost_build::configure()
        .extern_path(".rigel.v1", "::rigel_be_api::pb")
        .compile_fds(files)?;
    Ok(())
}
