"""build_worker(client, settings, engine): the handler workflow and activities from the
registered handlers, the partners' calls, poll sources and upkeep, the core maintenance and
retention."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from integration_hub.connectors.partner import CallsContext
from integration_hub.connectors.partners import PARTNERS
from integration_hub.orchestration.activities import HandlerActivities
from integration_hub.orchestration.calls import CALL_WORKFLOWS, partner_calls
from integration_hub.orchestration.escalation_rules import rules_for
from integration_hub.orchestration.handlers import Handler, HandlerContext, registered_handlers
from integration_hub.orchestration.invitations import InvitationActivities, InvitationWorkflow
from integration_hub.orchestration.maintenance import maintenance_activities
from integration_hub.orchestration.polls import PollActivities, PollWorkflow
from integration_hub.orchestration.retention import RETENTION_WORKFLOWS, RetentionActivities
from integration_hub.orchestration.support_conversation import SupportConversationWorkflow
from integration_hub.orchestration.support_records import SupportActivities
from integration_hub.orchestration.support_tags import TagSyncActivities, TagSyncWorkflow
from integration_hub.orchestration.workflows import HandlerWorkflow
from integration_hub.secrets import EnvSecretSource, SecretSource
from integration_hub.settings import Settings


def build_worker(
    client: Client,
    settings: Settings,
    engine: Engine,
    executor: ThreadPoolExecutor | None = None,
    *,
    secrets: SecretSource | None = None,
    handlers: Iterable[Handler] | None = None,
) -> Worker:
    """`executor` runs the (synchronous) activities; its owner waits for it before closing
    the engine they use. `secrets` feed the partners' calls out. `handlers` are the ones its
    handler workflow runs: by default the registered ones (core and partners')."""
    # The escalation rules file is checked here: one that does not hold together stops the
    # start (RulesError names the problem) rather than failing every message later.
    rules_for(settings.escalation_rules_file)
    handling = HandlerActivities(
        engine,
        registered_handlers() if handlers is None else handlers,
        HandlerContext(settings=settings),
    )
    source = secrets or EnvSecretSource(environ={})
    calls = partner_calls(settings, source, engine)
    context = CallsContext(settings=settings, secrets=source, engine=engine)
    polls = PollActivities(context, PARTNERS)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[
            HandlerWorkflow,
            PollWorkflow,
            InvitationWorkflow,
            SupportConversationWorkflow,
            TagSyncWorkflow,
            *CALL_WORKFLOWS,
            *RETENTION_WORKFLOWS,
        ],
        activities=[
            handling.apply_handler,
            handling.record_handler_outcome,
            *(activity for partner in calls for activity in partner.activities()),
            *polls.activities(),
            *InvitationActivities(engine).activities(),
            *SupportActivities(engine).activities(),
            *TagSyncActivities(engine).activities(),
            *maintenance_activities(secrets, settings),
            *RetentionActivities(engine, retention_days=settings.raw_retention_days).activities(),
        ],
        activity_executor=executor or activity_executor(),
        workflow_runner=workflow_runner(),
        max_concurrent_activities=16,
    )


def activity_executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=16, thread_name_prefix="activity")


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox with the hub's own modules passed through: a workflow module's package
    (`connectors/<partner>/__init__.py`, its Partner declaration) imports the partner's
    activities and SDK, which the sandbox would otherwise re-import and refuse. Workflow code
    stays deterministic by review and by the sandbox's checks on what it calls."""
    restrictions = SandboxRestrictions.default.with_passthrough_modules("integration_hub")
    return SandboxedWorkflowRunner(restrictions=restrictions)
