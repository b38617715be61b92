//! Queries in stages across the backends, on datafusion-distributed: every use of that
//! library is in this module.
//!
//! The frontend plans a query as usual; the distributed planner then cuts the physical plan
//! into stages at its exchanges (hash repartitions become shuffles between backends, the
//! build side of a small join is broadcast, partition merges gather) and
//! [`plan_on_backends`] teaches it Rigel's leaf: a [`TabletScanExec`] stage runs one task
//! per backend holding the scanned tablets, each task reading its own backend's group
//! (so the scan, the filters and the partial aggregates above it run where the data is),
//! and the task is routed to that backend. The frontend runs the top stage and streams the
//! rows to the client.
//!
//! Each backend serves the worker on its data port ([`worker_routes`], next to Flight, both
//! checking the protocol version); a task decodes with [`RigelCodec`], resolves functions in
//! the backend's registry, reads its tablets through the backend's [`ScanRuntime`] and sees
//! the statement's settings (time zone, batch size, `query_mem_limit`), which travel as
//! request headers.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::{SessionState, SessionStateBuilder, TaskContext};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_distributed::grpc::{BoxCloneSyncChannel, create_worker_client};
use datafusion_distributed::{
    ChannelResolver, DesiredTaskCountEvent, DesiredTaskCountEventResponse, DistributedExec,
    DistributedExt, DistributedLeafExec, DistributedMetricsFormat, NetworkBoundaryExt,
    RouteTasksEvent, RouteTasksEventResponse, ScaleUpLeafNodeEvent, ScaleUpLeafNodeEventResponse,
    SessionStateBuilderExt, Worker, WorkerChannel, WorkerQueryContext, WorkerResolver,
    WorkerSessionBuilder,
};
use parking_lot::Mutex;
use rigel_common::SqlError;
use rigel_common::ids::BackendId;
use rigel_exec::{PartShare, RigelCodec, ScanRuntime, TabletScanExec};
use tonic::codegen::InterceptedService;
use tonic::codegen::http::{HeaderMap, HeaderName, HeaderValue};
use tonic::service::Routes;
use url::Url;

use crate::status::CheckVersion;

/// Request headers that carry the statement's settings to every task.
const SETTING_PREFIX: &str = "rigel-setting-";

/// The setting that caps a task's memory (bytes), as `query_mem_limit` does a statement's.
pub const QUERY_MEM_LIMIT: &str = "query_mem_limit";

/// The backends queries may run on, as the frontend knows them.
pub trait Workers: Send + Sync + Debug + 'static {
    /// The data addresses (`host:brpc_port`) of the backends alive now.
    fn live(&self) -> Vec<String>;

    /// The data address of backend `id`, or the error that it cannot run a task
    /// (`ER_BACKEND_UNAVAILABLE`, naming it).
    fn address(&self, id: BackendId) -> Result<String, SqlError>;
}

/// The frontend's side: the backends, and connections to their workers (kept for the
/// process's life, shared by every statement).
#[derive(Debug)]
pub struct Coordinator {
    workers: Arc<dyn Workers>,
    channels: Channels,
}

impl Coordinator {
    /// Plans over `workers`.
    pub fn new(workers: Arc<dyn Workers>) -> Arc<Self> {
        Arc::new(Self {
            workers,
            channels: Channels::default(),
        })
    }
}

/// Connections to workers by address, each request carrying the protocol version: the
/// frontend's to every stage, a backend's to the stages it reads from.
#[derive(Debug, Clone, Default)]
struct Channels(Arc<Mutex<HashMap<String, BoxCloneSyncChannel>>>);

impl Channels {
    fn channel(&self, address: &str) -> Result<BoxCloneSyncChannel, SqlError> {
        let mut channels = self.0.lock();
        if let Some(c) = channels.get(address) {
            return Ok(c.clone());
        }
        let channel = BoxCloneSyncChannel::new(WithVersion(crate::channel(address)?));
        channels.insert(address.to_string(), channel.clone());
        Ok(channel)
    }
}

#[async_trait]
impl ChannelResolver for Channels {
    async fn get_worker_client_for_url(&self, url: &Url) -> DfResult<Box<dyn WorkerChannel>> {
        let address = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => rigel_common::host::join_host_port(h, p),
            _ => return Err(DataFusionError::Plan(format!("worker address {url}"))),
        };
        let channel = self.channel(&address).map_err(external)?;
        Ok(create_worker_client(channel))
    }
}

/// A channel whose requests carry this build's protocol version.
#[derive(Debug, Clone)]
struct WithVersion(tonic::transport::Channel);

impl tonic::codegen::Service<tonic::codegen::http::Request<tonic::body::Body>> for WithVersion {
    type Response = tonic::codegen::http::Response<tonic::body::Body>;
    type Error = tonic::transport::Error;
    type Future = <tonic::transport::Channel as tonic::codegen::Service<
        tonic::codegen::http::Request<tonic::body::Body>,
    >>::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        tonic::codegen::Service::poll_ready(&mut self.0, cx)
    }

    fn call(
        &mut self,
        mut request: tonic::codegen::http::Request<tonic::body::Body>,
    ) -> Self::Future {
        request.headers_mut().insert(
            rigel_be_api::PROTOCOL_HEADER,
            HeaderValue::from(rigel_be_api::PROTOCOL_VERSION),
        );
        tonic::codegen::Service::call(&mut self.0, request)
    }
}

fn url_of(address: &str) -> DfResult<Url> {
    Url::parse(&format!("http://{address}"))
        .map_err(|e| DataFusionError::Plan(format!("backend address '{address}': {e}")))
}

fn external(e: SqlError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

#[derive(Debug, Clone)]
struct Resolver(Arc<Coordinator>);

impl WorkerResolver for Resolver {
    fn get_urls(&self) -> DfResult<Vec<Url>> {
        self.0.workers.live().iter().map(|a| url_of(a)).collect()
    }
}

/// Adds distributed planning to the state of a statement on the frontend: `settings`
/// (DataFusion config keys, and [`QUERY_MEM_LIMIT`]) reach every task.
pub fn plan_on_backends(
    builder: SessionStateBuilder,
    coordinator: &Arc<Coordinator>,
    settings: &BTreeMap<String, String>,
    compression: Compression,
) -> SessionStateBuilder {
    let mut headers = HeaderMap::new();
    for (key, value) in settings {
        match (
            HeaderName::try_from(format!("{SETTING_PREFIX}{key}")),
            HeaderValue::try_from(value.as_str()),
        ) {
            (Ok(name), Ok(value)) => {
                headers.insert(name, value);
            }
            _ => tracing::warn!("setting {key} = '{value}' cannot reach the backends' tasks"),
        }
    }
    let router = Arc::clone(coordinator);
    let mut builder = builder
        .with_distributed_planner()
        .with_distributed_worker_resolver(Resolver(Arc::clone(coordinator)))
        .with_distributed_channel_resolver(coordinator.channels.clone())
        .with_distributed_user_codec(RigelCodec)
        .with_distributed_desired_task_count_handler(desired_tasks)
        .with_distributed_scale_up_leaf_node_handler(split_scan)
        .with_distributed_route_tasks_handler(move |ev: RouteTasksEvent<'_>| route(&router, ev));
    let config = builder.config().get_or_insert_default();
    // Only names under the library's reserved prefix are refused; ours are not.
    if let Err(e) = config.set_distributed_passthrough_headers(headers) {
        tracing::warn!("the statement's settings cannot reach the backends' tasks: {e}");
    }
    let codec = match compression {
        Compression::None => None,
        Compression::Lz4 => Some(datafusion::arrow::ipc::CompressionType::LZ4_FRAME),
        Compression::Zstd => Some(datafusion::arrow::ipc::CompressionType::ZSTD),
    };
    if let Err(e) = config.set_distributed_compression(codec) {
        tracing::warn!("the exchange compression cannot be set: {e}");
    }
    builder
}

/// How rows exchanged between tasks are compressed (the session's
/// `transmission_compression_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Not at all (`NO_COMPRESSION`).
    #[default]
    None,
    /// LZ4 frames (`LZ4`, `LZ4_FRAME`).
    Lz4,
    /// Zstandard (`ZSTD`).
    Zstd,
}

impl Compression {
    /// From a `transmission_compression_type` value; unknown words compress nothing.
    pub fn from_variable(value: &str) -> Self {
        match value.to_ascii_uppercase().as_str() {
            "LZ4" | "LZ4_FRAME" => Compression::Lz4,
            "ZSTD" => Compression::Zstd,
            _ => Compression::None,
        }
    }
}

/// A tablet scan wants one task per backend it reads. Other leaves (system tables, files)
/// are not split.
fn desired_tasks(ev: DesiredTaskCountEvent<'_>) -> Option<DfResult<DesiredTaskCountEventResponse>> {
    if let Some(scan) = ev.plan.downcast_ref::<TabletScanExec>() {
        let tasks = match scan.layout() {
            // A scan that follows its buckets (a side of a colocated join): a task per set,
            // the same for every scan of the stage.
            Some(layout) => layout.sets.len(),
            None => scan_tasks(scan),
        };
        return Some(Ok(DesiredTaskCountEventResponse::desired(tasks)));
    }
    if ev.plan.children().is_empty() {
        return Some(Ok(DesiredTaskCountEventResponse::maximum(1)));
    }
    None
}

/// The tasks a tablet scan wants: one per backend it reads, and two for a scan of one
/// backend (cut in two parts or more), each reading a share of its parts there. One task
/// would not be a stage of its own: the planner runs a one-task stage under the
/// frontend's one task on the frontend, which would then read every row over the wire.
fn scan_tasks(scan: &TabletScanExec) -> usize {
    match scan.groups().len() {
        0 => 1,
        1 => scan.partitions_per_group().clamp(1, 2),
        n => n,
    }
}

/// Splits a tablet scan into one variant per task: the groups (backends) in turn, so each
/// task reads whole groups, and every variant has as many partitions as the largest. With
/// more tasks than groups (one group), each task reads a share of the group's parts.
fn split_scan(ev: ScaleUpLeafNodeEvent<'_>) -> Option<DfResult<ScaleUpLeafNodeEventResponse>> {
    let scan = ev.plan.downcast_ref::<TabletScanExec>()?;
    let tasks = ev.task_count.max(1);
    if scan.layout().is_some() {
        // Every scan of a colocated join's stage splits its buckets alike.
        let variants = scan.split_by_buckets(tasks).map(|v| {
            v.into_iter()
                .map(|s| Arc::new(s) as Arc<dyn ExecutionPlan>)
                .collect::<Vec<_>>()
        });
        return Some(
            variants
                .and_then(|v| DistributedLeafExec::try_new(Arc::clone(ev.plan), v))
                .map(|leaf| ScaleUpLeafNodeEventResponse::new(Arc::new(leaf))),
        );
    }
    if let [group] = scan.groups()
        && tasks > 1
        && scan.partitions_per_group() >= tasks
    {
        let widest = PartShare {
            offset: 0,
            stride: tasks,
        }
        .count(scan.partitions_per_group());
        let variants: DfResult<Vec<Arc<dyn ExecutionPlan>>> = (0..tasks)
            .map(|t| {
                let share = PartShare {
                    offset: t,
                    stride: tasks,
                };
                scan.with_share(group.clone(), share, widest)
                    .map(|s| Arc::new(s) as Arc<dyn ExecutionPlan>)
            })
            .collect();
        return Some(
            variants
                .and_then(|v| DistributedLeafExec::try_new(Arc::clone(ev.plan), v))
                .map(|leaf| ScaleUpLeafNodeEventResponse::new(Arc::new(leaf))),
        );
    }
    let mut per_task = vec![vec![]; tasks];
    for (i, group) in scan.groups().iter().enumerate() {
        per_task[i % tasks].push(group.clone());
    }
    let widest = per_task.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let partitions = widest * scan.partitions_per_group();
    let variants: DfResult<Vec<Arc<dyn ExecutionPlan>>> = per_task
        .into_iter()
        .map(|groups| {
            scan.with_groups(groups, partitions)
                .map(|s| Arc::new(s) as Arc<dyn ExecutionPlan>)
        })
        .collect();
    Some(
        variants
            .and_then(|v| DistributedLeafExec::try_new(Arc::clone(ev.plan), v))
            .map(|leaf| ScaleUpLeafNodeEventResponse::new(Arc::new(leaf))),
    )
}

/// The scan variants of a stage, one per task, when the stage reads tablets.
fn scan_variants(stage: &Arc<dyn ExecutionPlan>) -> Option<Vec<Arc<dyn ExecutionPlan>>> {
    let mut found = None;
    let _ = stage.apply(|node| {
        if node.is_network_boundary() {
            return Ok(TreeNodeRecursion::Jump);
        }
        if let Some(leaf) = node.downcast_ref::<DistributedLeafExec>()
            && leaf.original().is::<TabletScanExec>()
        {
            found = Some(leaf.variants().to_vec());
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// The backend a task of a tablet scan runs on: the one holding its first group.
fn task_backend(variant: &Arc<dyn ExecutionPlan>) -> Option<BackendId> {
    variant
        .downcast_ref::<TabletScanExec>()
        .and_then(|s| s.groups().first())
        .map(|g| g.backend)
}

/// Sends each task of a tablet-scan stage to the backend holding its tablets; a task of
/// no tablets (and every other stage) goes to the live backends in turn.
fn route(
    coordinator: &Coordinator,
    ev: RouteTasksEvent<'_>,
) -> Option<DfResult<RouteTasksEventResponse>> {
    let variants = scan_variants(ev.plan)?;
    let live = coordinator.workers.live();
    let mut urls = Vec::with_capacity(ev.task_count);
    for i in 0..ev.task_count {
        let address = match variants.get(i).and_then(task_backend) {
            Some(id) => match coordinator.workers.address(id) {
                Ok(a) => a,
                Err(e) => return Some(Err(external(e))),
            },
            None => match live.get(i % live.len().max(1)) {
                Some(a) => a.clone(),
                None => {
                    return Some(Err(external(SqlError::new(
                        rigel_common::ErrorCode::ER_BACKEND_UNAVAILABLE,
                        "No backend is alive to run the query",
                    ))));
                }
            },
        };
        match url_of(&address) {
            Ok(u) => urls.push(u),
            Err(e) => return Some(Err(e)),
        }
    }
    Some(Ok(RouteTasksEventResponse::new(urls)))
}

/// Whether `plan` runs in stages on the backends.
pub fn is_distributed(plan: &Arc<dyn ExecutionPlan>) -> bool {
    plan.is::<DistributedExec>()
}

/// The plan as stages and tasks (EXPLAIN), with the metrics of a run when `metrics`.
pub fn display(plan: &Arc<dyn ExecutionPlan>, metrics: bool) -> String {
    let mut text = datafusion_distributed::display_plan_ascii(plan.as_ref(), metrics);
    let mut stage = 0;
    let _ = plan.apply(|node| {
        if let Some(boundary) = node.as_network_boundary() {
            stage += 1;
            let input = boundary.input_stage();
            match input.local_plan().and_then(scan_variants) {
                Some(variants) => {
                    let placed: Vec<String> = variants
                        .iter()
                        .enumerate()
                        .map(|(i, v)| match task_backend(v) {
                            Some(id) => format!("t{i}->backend {id}"),
                            None => format!("t{i}->any"),
                        })
                        .collect();
                    text.push_str(&format!(
                        "Stage {} tasks: {}\n",
                        input.num(),
                        placed.join(", ")
                    ));
                }
                // A stage that reads no table runs where the live backends take it in
                // turn, chosen as the query starts.
                None => text.push_str(&format!(
                    "Stage {} tasks: {} on the live backends in turn\n",
                    input.num(),
                    input.task_count()
                )),
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    text
}

/// The executed plan with the metrics its tasks reported (their scans' rows and bytes
/// among them); other plans unchanged.
pub async fn with_metrics(plan: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
    if !is_distributed(&plan) {
        return plan;
    }
    let wait = datafusion_distributed::rewrite_distributed_plan_with_metrics(
        Arc::clone(&plan),
        DistributedMetricsFormat::Aggregated,
    );
    // A task on a backend that went away never reports; its metrics are missing then.
    match tokio::time::timeout(std::time::Duration::from_secs(5), wait).await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            tracing::debug!("metrics of a distributed plan: {e}");
            plan
        }
        Err(_) => plan,
    }
}

/// What a backend gives the tasks it runs.
pub trait FragmentHost: Send + Sync + 'static {
    /// Where functions named in received plans resolve.
    fn functions(&self) -> Arc<TaskContext>;
    /// Its tablets and the other backends.
    fn scan_runtime(&self) -> ScanRuntime;
    /// The runtime (memory pool) of its queries.
    fn runtime(&self) -> Arc<RuntimeEnv>;
}

struct Sessions {
    host: Arc<dyn FragmentHost>,
    channels: Channels,
}

#[async_trait]
impl WorkerSessionBuilder for Sessions {
    async fn build_session_state(&self, ctx: WorkerQueryContext) -> DfResult<SessionState> {
        let mut settings = BTreeMap::new();
        let mut forward = HeaderMap::new();
        for (name, value) in &ctx.headers {
            if let Some(key) = name.as_str().strip_prefix(SETTING_PREFIX) {
                let v = value.to_str().map_err(|e| {
                    DataFusionError::Plan(format!("setting {key} is not text: {e}"))
                })?;
                settings.insert(key.to_string(), v.to_string());
                forward.insert(name.clone(), value.clone());
            }
        }
        let limit = settings
            .remove(QUERY_MEM_LIMIT)
            .and_then(|v| v.parse::<usize>().ok());
        let mut builder = ctx.builder;
        {
            let config = builder.config().get_or_insert_default();
            for (key, value) in &settings {
                config.options_mut().set(key, value)?;
            }
            config.set_extension(Arc::new(self.host.scan_runtime()));
        }
        let functions = self.host.functions();
        let state = builder
            .with_scalar_functions(functions.scalar_functions().values().cloned().collect())
            .with_aggregate_functions(functions.aggregate_functions().values().cloned().collect())
            .with_window_functions(functions.window_functions().values().cloned().collect())
            .with_runtime_env(rigel_exec::query_runtime(&self.host.runtime(), limit))
            .with_distributed_channel_resolver(self.channels.clone())
            .with_distributed_user_codec(RigelCodec)
            .with_distributed_passthrough_headers(forward)?
            .build();
        Ok(state)
    }
}

/// `routes` with the query worker of a backend (tasks of distributed plans), checking
/// protocol versions like every service.
pub fn worker_routes(routes: Routes, host: Arc<dyn FragmentHost>) -> Routes {
    let runtime = host.runtime();
    let worker = Worker::from_session_builder(Sessions {
        host,
        channels: Channels::default(),
    })
    .with_runtime_env(runtime)
    .with_version(rigel_be_api::PROTOCOL_VERSION.to_string());
    routes.add_service(InterceptedService::new(
        worker.into_worker_server(),
        CheckVersion,
    ))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::common::Statistics;
    use datafusion::prelude::SessionConfig;
    use datafusion_distributed::TaskCountAnnotation;
    use rigel_common::ErrorCode;
    use rigel_common::ids::{TableId, TabletId};
    use rigel_exec::{ScanGroup, ScanSpec};

    use super::*;

    #[derive(Debug)]
    struct Fixed {
        dead: Vec<BackendId>,
    }

    impl Workers for Fixed {
        fn live(&self) -> Vec<String> {
            (1..=3)
                .filter(|i| !self.dead.contains(&BackendId(10000 + i)))
                .map(|i| format!("127.0.0.1:806{i}"))
                .collect()
        }

        fn address(&self, id: BackendId) -> Result<String, SqlError> {
            if self.dead.contains(&id) {
                return Err(SqlError::new(
                    ErrorCode::ER_BACKEND_UNAVAILABLE,
                    format!("backend {id} is not alive"),
                ));
            }
            Ok(format!("127.0.0.1:806{}", id.0 - 10000))
        }
    }

    /// A scan of three backends' tablets, two partitions per backend.
    fn scan() -> Arc<dyn ExecutionPlan> {
        scan_of(3, 2)
    }

    /// A scan of `backends` backends' tablets, `parts` partitions per backend.
    fn scan_of(backends: u64, parts: usize) -> Arc<dyn ExecutionPlan> {
        let spec = ScanSpec {
            table_id: TableId(7),
            schema: Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true)])),
            projection: None,
            filters: vec![],
            limit: None,
            with_sequence: false,
            pushdown_filters: false,
            bucketing: None,
        };
        let groups = (1..=backends)
            .map(|i| ScanGroup {
                backend: BackendId(10000 + i),
                address: format!("127.0.0.1:806{i}"),
                tablets: vec![(TabletId(i * 10), 2), (TabletId(i * 10 + 1), 2)],
                buckets: vec![],
            })
            .collect();
        let stats = Statistics::new_unknown(&spec.output_schema().unwrap());
        Arc::new(TabletScanExec::try_new(Arc::new(spec), groups, parts, 0, stats).unwrap())
    }

    fn split(plan: &Arc<dyn ExecutionPlan>, tasks: usize) -> Arc<dyn ExecutionPlan> {
        let config = SessionConfig::new();
        let ev = ScaleUpLeafNodeEvent {
            plan,
            task_count: tasks,
            session_config: &config,
        };
        split_scan(ev).unwrap().unwrap().plan
    }

    fn backends_of(variant: &Arc<dyn ExecutionPlan>) -> Vec<u64> {
        let scan = variant.downcast_ref::<TabletScanExec>().unwrap();
        scan.groups().iter().map(|g| g.backend.0).collect()
    }

    #[test]
    fn a_tablet_scan_wants_a_task_per_backend_and_other_leaves_one() {
        let config = SessionConfig::new();
        let plan = scan();
        let ev = DesiredTaskCountEvent {
            plan: &plan,
            session_config: &config,
        };
        let wanted = desired_tasks(ev).unwrap().unwrap();
        assert!(matches!(wanted.task_count, TaskCountAnnotation::Desired(3)));

        let empty: Arc<dyn ExecutionPlan> = Arc::new(
            datafusion::physical_plan::empty::EmptyExec::new(plan.schema()),
        );
        let ev = DesiredTaskCountEvent {
            plan: &empty,
            session_config: &config,
        };
        let wanted = desired_tasks(ev).unwrap().unwrap();
        assert!(matches!(wanted.task_count, TaskCountAnnotation::Maximum(1)));
    }

    #[test]
    fn each_task_reads_whole_backends_in_turn() {
        let plan = scan();
        let leaf = split(&plan, 3);
        let leaf = leaf.downcast_ref::<DistributedLeafExec>().unwrap();
        let per_task: Vec<Vec<u64>> = leaf.variants().iter().map(backends_of).collect();
        assert_eq!(per_task, vec![vec![10001], vec![10002], vec![10003]]);

        // Fewer tasks than backends: a task reads several groups, and every variant has
        // the partitions of the widest.
        let leaf = split(&plan, 2);
        let leaf = leaf.downcast_ref::<DistributedLeafExec>().unwrap();
        let per_task: Vec<Vec<u64>> = leaf.variants().iter().map(backends_of).collect();
        assert_eq!(per_task, vec![vec![10001, 10003], vec![10002]]);
        for v in leaf.variants() {
            assert_eq!(v.properties().partitioning.partition_count(), 4);
        }

        // More tasks than backends: the extra tasks read nothing.
        let leaf = split(&plan, 4);
        let leaf = leaf.downcast_ref::<DistributedLeafExec>().unwrap();
        let per_task: Vec<Vec<u64>> = leaf.variants().iter().map(backends_of).collect();
        assert_eq!(
            per_task,
            vec![vec![10001], vec![10002], vec![10003], vec![]]
        );
    }

    #[test]
    fn the_session_variable_names_the_exchange_compression() {
        assert_eq!(
            Compression::from_variable("NO_COMPRESSION"),
            Compression::None
        );
        assert_eq!(Compression::from_variable("lz4"), Compression::Lz4);
        assert_eq!(Compression::from_variable("LZ4_FRAME"), Compression::Lz4);
        assert_eq!(Compression::from_variable("ZSTD"), Compression::Zstd);
        assert_eq!(Compression::from_variable(""), Compression::None);
    }

    #[test]
    fn a_scan_of_one_backend_is_shared_by_two_tasks_there() {
        let config = SessionConfig::new();
        let plan = scan_of(1, 3);
        let ev = DesiredTaskCountEvent {
            plan: &plan,
            session_config: &config,
        };
        let wanted = desired_tasks(ev).unwrap().unwrap();
        assert!(matches!(wanted.task_count, TaskCountAnnotation::Desired(2)));
        // Cut in one part only, it is one task.
        let single = scan_of(1, 1);
        let ev = DesiredTaskCountEvent {
            plan: &single,
            session_config: &config,
        };
        let wanted = desired_tasks(ev).unwrap().unwrap();
        assert!(matches!(wanted.task_count, TaskCountAnnotation::Desired(1)));

        // Parts 0 and 2 to the first task, part 1 to the second, both on the backend;
        // every variant has as many partitions as the widest share.
        let leaf = split(&plan, 2);
        let leaf = leaf.downcast_ref::<DistributedLeafExec>().unwrap();
        let shares: Vec<(Vec<u64>, PartShare)> = leaf
            .variants()
            .iter()
            .map(|v| {
                let s = v.downcast_ref::<TabletScanExec>().unwrap();
                (backends_of(v), s.share())
            })
            .collect();
        assert_eq!(
            shares,
            vec![
                (
                    vec![10001],
                    PartShare {
                        offset: 0,
                        stride: 2
                    }
                ),
                (
                    vec![10001],
                    PartShare {
                        offset: 1,
                        stride: 2
                    }
                ),
            ]
        );
        for v in leaf.variants() {
            assert_eq!(v.properties().partitioning.partition_count(), 2);
        }
        assert_eq!(
            PartShare {
                offset: 0,
                stride: 2
            }
            .count(3),
            2
        );
        assert_eq!(
            PartShare {
                offset: 1,
                stride: 2
            }
            .count(3),
            1
        );
        assert_eq!(
            PartShare {
                offset: 1,
                stride: 2
            }
            .part(0),
            1
        );
        assert_eq!(
            PartShare {
                offset: 0,
                stride: 2
            }
            .part(1),
            2
        );
    }

    fn route_with(dead: Vec<BackendId>, tasks: usize) -> Option<DfResult<Vec<String>>> {
        let coordinator = Coordinator::new(Arc::new(Fixed { dead }));
        let plan = scan();
        let leaf = split(&plan, tasks);
        let ev = RouteTasksEvent {
            task_ctx: Arc::new(TaskContext::default()),
            plan: &leaf,
            task_count: tasks,
        };
        route(&coordinator, ev).map(|r| {
            r.map(|r| {
                r.urls
                    .iter()
                    .map(|u| u.as_str().trim_end_matches('/').to_string())
                    .collect()
            })
        })
    }

    #[test]
    fn tasks_go_to_the_backends_holding_their_tablets() {
        let urls = route_with(vec![], 3).unwrap().unwrap();
        assert_eq!(
            urls,
            vec![
                "http://127.0.0.1:8061",
                "http://127.0.0.1:8062",
                "http://127.0.0.1:8063"
            ]
        );
        // A task of no tablets goes to a live backend.
        let urls = route_with(vec![], 4).unwrap().unwrap();
        assert_eq!(urls.len(), 4);
        assert!(urls[3].starts_with("http://127.0.0.1:806"), "{urls:?}");
    }

    #[test]
    fn a_task_on_a_dead_backend_fails_naming_it() {
        let err = route_with(vec![BackendId(10002)], 3).unwrap().unwrap_err();
        let DataFusionError::External(e) = err else {
            panic!("not typed: {err}");
        };
        let e = e.downcast_ref::<SqlError>().unwrap();
        assert_eq!(e.code, ErrorCode::ER_BACKEND_UNAVAILABLE);
        assert!(e.message.contains("10002"), "{e}");
    }

    #[test]
    fn stages_without_tablets_are_routed_by_the_library() {
        let coordinator = Coordinator::new(Arc::new(Fixed { dead: vec![] }));
        let plan: Arc<dyn ExecutionPlan> = Arc::new(
            datafusion::physical_plan::empty::EmptyExec::new(scan().schema()),
        );
        let ev = RouteTasksEvent {
            task_ctx: Arc::new(TaskContext::default()),
            plan: &plan,
            task_count: 2,
        };
        assert!(route(&coordinator, ev).is_none());
    }
}
