"""retab-async: an async-first client for the Retab document-AI API.

::

    async with RetabClient() as client:
        handle = await client.classifications.start("invoice.pdf", ["invoice", "receipt"])
        result = await handle.wait(timeout=60)
        print(result.output.category)

Everything public is importable from here; modules with a leading underscore
are private.
"""

import inspect as _inspect
import sys as _sys

from ._client import DEFAULT_BASE_URL as DEFAULT_BASE_URL
from ._client import RetabClient as RetabClient
from ._clock import Clock as Clock
from ._error_body import ErrorDetail as ErrorDetail
from ._error_body import ValidationItem as ValidationItem
from ._errors import APIConnectionError as APIConnectionError
from ._errors import APIError as APIError
from ._errors import APIResponseValidationError as APIResponseValidationError
from ._errors import APIStatusError as APIStatusError
from ._errors import APITimeoutError as APITimeoutError
from ._errors import AuthenticationError as AuthenticationError
from ._errors import BadRequestError as BadRequestError
from ._errors import CheckpointError as CheckpointError
from ._errors import ClientStateError as ClientStateError
from ._errors import ConflictError as ConflictError
from ._errors import ConnectError as ConnectError
from ._errors import DecodeError as DecodeError
from ._errors import DocumentError as DocumentError
from ._errors import FileChangedError as FileChangedError
from ._errors import GoneError as GoneError
from ._errors import InternalServerError as InternalServerError
from ._errors import NotFoundError as NotFoundError
from ._errors import OutputValidationError as OutputValidationError
from ._errors import PauseTimeout as PauseTimeout
from ._errors import PermissionDeniedError as PermissionDeniedError
from ._errors import ProtocolError as ProtocolError
from ._errors import RateLimitError as RateLimitError
from ._errors import RequestTimeout as RequestTimeout
from ._errors import RetabError as RetabError
from ._errors import RunCancelled as RunCancelled
from ._errors import RunError as RunError
from ._errors import RunFailed as RunFailed
from ._errors import ServerError as ServerError
from ._errors import TokenError as TokenError
from ._errors import TransportError as TransportError
from ._errors import UnprocessableEntityError as UnprocessableEntityError
from ._errors import UploadError as UploadError
from ._errors import UploadExpired as UploadExpired
from ._errors import UploadMismatch as UploadMismatch
from ._errors import UsageError as UsageError
from ._errors import ValidationError as ValidationError
from ._errors import WaitTimeout as WaitTimeout
from ._http.retry import RetryPolicy as RetryPolicy
from ._models.common import Category as Category
from ._models.common import Classification as Classification
from ._models.common import ClassificationConsensus as ClassificationConsensus
from ._models.common import ClassificationDecision as ClassificationDecision
from ._models.common import FileRef as FileRef
from ._models.common import ListMetadata as ListMetadata
from ._models.common import MIMEData as MIMEData
from ._models.common import Page as Page
from ._models.common import PrimitiveError as PrimitiveError
from ._models.common import RetabUsage as RetabUsage
from ._models.edits import BBox as BBox
from ._models.edits import Edit as Edit
from ._models.edits import EditConfig as EditConfig
from ._models.edits import EditResult as EditResult
from ._models.edits import FormField as FormField
from ._models.extractions import Extraction as Extraction
from ._models.extractions import ExtractionConsensus as ExtractionConsensus
from ._models.extractions import ExtractionPartial as ExtractionPartial
from ._models.extractions import SourcesResponse as SourcesResponse
from ._models.file_blueprints import FileBlueprint as FileBlueprint
from ._models.files import File as File
from ._models.files import FileLink as FileLink
from ._models.files import FileUpload as FileUpload
from ._models.files import UploadedFile as UploadedFile
from ._models.parses import Parse as Parse
from ._models.parses import ParseOutput as ParseOutput
from ._models.partitions import Partition as Partition
from ._models.partitions import PartitionChunk as PartitionChunk
from ._models.partitions import PartitionConsensus as PartitionConsensus
from ._models.partitions import PartitionLikelihood as PartitionLikelihood
from ._models.schema_generations import SchemaGeneration as SchemaGeneration
from ._models.schemas import decode_output as decode_output
from ._models.schemas import load_json_schema as load_json_schema
from ._models.splits import SheetRegion as SheetRegion
from ._models.splits import Split as Split
from ._models.splits import SplitConsensus as SplitConsensus
from ._models.splits import SplitLikelihood as SplitLikelihood
from ._models.splits import SplitResult as SplitResult
from ._models.splits import Subdocument as Subdocument
from ._resources.base import Paginator as Paginator
from ._resources.classifications import Classifications as Classifications
from ._resources.edits import Edits as Edits
from ._resources.extractions import Extractions as Extractions
from ._resources.extractions import ExtractionStream as ExtractionStream
from ._resources.file_blueprints import FileBlueprints as FileBlueprints
from ._resources.files import Files as Files
from ._resources.parses import Parses as Parses
from ._resources.partitions import Partitions as Partitions
from ._resources.schema_generations import Schemas as Schemas
from ._resources.splits import Splits as Splits
from ._runs.batch import Batch as Batch
from ._runs.batch import BatchItem as BatchItem
from ._runs.batch import BatchProgress as BatchProgress
from ._runs.batch import BatchResult as BatchResult
from ._runs.handle import RunHandle as RunHandle
from ._runs.handle import RunWatch as RunWatch
from ._runs.polling import PollPolicy as PollPolicy
from ._runs.polling import PollStats as PollStats
from ._runs.primitive import Primitive as Primitive
from ._runs.waiting import as_completed as as_completed
from ._runs.waiting import wait_all as wait_all
from ._status import TERMINAL_STATUSES as TERMINAL_STATUSES
from ._status import RunStatus as RunStatus
from ._status import is_terminal as is_terminal
from ._version import __version__ as __version__

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BBox",
    "BadRequestError",
    "Batch",
    "BatchItem",
    "BatchProgress",
    "BatchResult",
    "Category",
    "CheckpointError",
    "Classification",
    "ClassificationConsensus",
    "ClassificationDecision",
    "Classifications",
    "ClientStateError",
    "Clock",
    "ConflictError",
    "ConnectError",
    "DEFAULT_BASE_URL",
    "DecodeError",
    "DocumentError",
    "Edit",
    "EditConfig",
    "EditResult",
    "Edits",
    "ErrorDetail",
    "Extraction",
    "ExtractionConsensus",
    "ExtractionPartial",
    "ExtractionStream",
    "Extractions",
    "File",
    "FileBlueprint",
    "FileBlueprints",
    "FileChangedError",
    "FileLink",
    "FileRef",
    "FileUpload",
    "Files",
    "FormField",
    "GoneError",
    "InternalServerError",
    "ListMetadata",
    "MIMEData",
    "NotFoundError",
    "OutputValidationError",
    "Page",
    "Paginator",
    "Parse",
    "ParseOutput",
    "Parses",
    "Partition",
    "PartitionChunk",
    "PartitionConsensus",
    "PartitionLikelihood",
    "Partitions",
    "PauseTimeout",
    "PermissionDeniedError",
    "PollPolicy",
    "PollStats",
    "Primitive",
    "PrimitiveError",
    "ProtocolError",
    "RateLimitError",
    "RequestTimeout",
    "RetabClient",
    "RetabError",
    "RetabUsage",
    "RetryPolicy",
    "RunCancelled",
    "RunError",
    "RunFailed",
    "RunHandle",
    "RunStatus",
    "RunWatch",
    "SchemaGeneration",
    "Schemas",
    "ServerError",
    "SheetRegion",
    "SourcesResponse",
    "Split",
    "SplitConsensus",
    "SplitLikelihood",
    "SplitResult",
    "Splits",
    "Subdocument",
    "TERMINAL_STATUSES",
    "TokenError",
    "TransportError",
    "UnprocessableEntityError",
    "UploadError",
    "UploadExpired",
    "UploadMismatch",
    "UploadedFile",
    "UsageError",
    "ValidationError",
    "ValidationItem",
    "WaitTimeout",
    "__version__",
    "as_completed",
    "decode_output",
    "is_terminal",
    "load_json_schema",
    "wait_all",
]


def _publish(names: list[str]) -> None:
    """Give every public class the public module path, as anyio does.

    Tracebacks and reprs then say ``retab_async.NotFoundError``, not the private
    module it is defined in. String annotations are resolved first, in the module
    that defines them: msgspec and ``typing.get_type_hints`` look names up in
    ``cls.__module__``, which would no longer hold private helpers such as ``Any``.
    """
    for name in names:
        value = globals()[name]
        if not isinstance(value, type) or not value.__module__.startswith(__name__ + "._"):
            continue
        namespace = vars(_sys.modules[value.__module__])
        own = _inspect.get_annotations(value)
        if any(isinstance(hint, str) for hint in own.values()):
            value.__annotations__ = {
                field: _resolve(hint, namespace) for field, hint in own.items()
            }
        value.__module__ = __name__


def _resolve(hint: object, namespace: dict[str, object]) -> object:
    if not isinstance(hint, str):
        return hint
    try:
        return eval(hint, namespace)
    except NameError:  # a name imported only for type checkers: leave it as written
        return hint


_publish(__all__)
