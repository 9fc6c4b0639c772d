"""Imports every model module, so the metadata is complete wherever it is used."""
from experts_service.accounts.models import ApiToken, User  # noqa: F401
from experts_service.assessment.models import AssessmentCycle, AssessmentResult, SelfAssessment  # noqa: F401
from experts_service.core.audit import AuditEntry  # noqa: F401
from experts_service.consultation.models import (  # noqa: F401
    AdoptionFeedback,
    AttendanceRecord,
    EngagementRating,
    Invitation,
    Opinion,
    PanelMaterial,
)
from experts_service.core.outbox import SearchOutbox  # noqa: F401
from experts_service.experts.models import (  # noqa: F401
    Appointment,
    ConflictDeclaration,
    Expert,
    UnavailablePeriod,
)
from experts_service.integrity.models import (  # noqa: F401
    IntegrityAppeal,
    IntegrityEvent,
    IntegrityEvidence,
    Sanction,
)
from experts_service.lifecycle.models import (  # noqa: F401
    Application,
    ApplicationDocument,
    CalendarOverride,
    ExpertExit,
    Objection,
    ProfileChangeRequest,
    RenewalReview,
    ReviewGroupMember,
    ReviewVote,
    StatusChange,
)
from experts_service.notifications.models import MailMessage, Notification  # noqa: F401
from experts_service.panels.pool_version import MatchPoolState  # noqa: F401
from experts_service.panels.models import (  # noqa: F401
    AvoidEntry,
    DecisionItem,
    EmploymentRecord,
    Engagement,
    PanelRequest,
    Recommendation,
)
from experts_service.policy import PolicyVersion  # noqa: F401
from experts_service.reference.models import Domain, Organisation, OrganisationAlias, Tier  # noqa: F401
