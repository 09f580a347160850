// What an SPA writes with the types graphql-codegen generated from the live
// schema and operations/*.graphql. Compiled with `tsc --strict --noEmit`:
// it must compile, and each `@ts-expect-error` must really be an error
// (so the generated types are precise, not `any`).
import type {
  CreateLeadMutation,
  CreateLeadMutationVariables,
  LeadEventsSubscription,
  LeadRowFragment,
  LeadStatus,
  LeadWithNotesQuery,
  LeadWithNotesQueryVariables,
  LeadsPageQuery,
  LeadsPageQueryVariables,
  MessageStatsQuery,
  Role,
  SenderAccountsQuery,
  SessionFragment,
  SignUpMutation,
  SignUpMutationVariables,
  UpdateLeadMutation,
  UpdateLeadMutationVariables,
} from '../generated/codegen/graphql';

type GraphQLResponse<T> = { data?: T | null; errors?: { message: string; extensions?: Record<string, unknown> }[] };

export async function request<TData, TVariables extends Record<string, unknown>>(
  url: string,
  query: string,
  variables: TVariables,
  token?: string,
): Promise<TData> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as GraphQLResponse<TData>;
  if (body.errors?.length || !body.data) {
    throw new Error(body.errors?.map((e) => e.message).join('; ') ?? `HTTP ${response.status}`);
  }
  return body.data;
}

// Sign-up and the session an SPA keeps.
export function signUpVariables(email: string, slug: string): SignUpMutationVariables {
  return { input: { email, password: 'correct horse battery', name: 'Ada', tenantName: 'Ada Inc', tenantSlug: slug } };
}

export function keepSession(result: SignUpMutation): SessionFragment {
  const session = result.signUp;
  const role: Role = session.role;
  const isOwner = role === 'OWNER';
  // @ts-expect-error Role is a closed set of strings
  const wrong: Role = 'SUPERUSER';
  void wrong;
  void isOwner;
  const expires: string = session.expiresAt; // DateTime is mapped to string
  void expires;
  return session;
}

// The leads page, with nested company, stage and tags.
export interface LeadCard {
  id: string;
  title: string;
  company: string;
  stage: string;
  tags: readonly string[];
  status: LeadStatus;
}

export function leadCard(lead: LeadRowFragment): LeadCard {
  // @ts-expect-error company is nullable: it must be checked
  const unchecked: string = lead.company.name;
  void unchecked;
  return {
    id: lead.id,
    title: lead.fullName,
    company: lead.company?.name ?? '—',
    stage: lead.stage?.name ?? 'no stage',
    tags: lead.tags,
    status: lead.status,
  };
}

export function leadsPage(result: LeadsPageQuery): { cards: LeadCard[]; next: string | null; total: number } {
  const cards = result.leads.edges.map((edge) => leadCard(edge.node));
  const stages: string[] = result.leadStages.nodes.map((stage) => `${stage.position}. ${stage.name}`);
  void stages;
  return {
    cards,
    next: result.leads.pageInfo.hasNextPage ? (result.leads.pageInfo.endCursor ?? null) : null,
    total: result.leads.totalCount,
  };
}

export const firstPage: LeadsPageQueryVariables = {
  first: 25,
  filter: { status: { in: ['NEW', 'CONTACTED'] }, tags: { contains: 'vip' } },
  orderBy: { field: 'SCORE', direction: 'DESC' },
};

// @ts-expect-error an unknown order field is refused
export const badOrder: LeadsPageQueryVariables = { orderBy: { field: 'COLOUR', direction: 'ASC' } };

// A lead with its notes.
export function notesOf(result: LeadWithNotesQuery): string[] {
  return result.lead.notes.nodes.map((note) => {
    const author = note.author?.name ?? 'API key';
    const edits = note.versions.totalCount;
    return `${author} (v${note.version}, ${edits} earlier): ${note.body}`;
  });
}

export const leadQuery: LeadWithNotesQueryVariables = { id: 'lead-id' };

// Create and update.
export const createInput: CreateLeadMutationVariables = {
  input: { firstName: 'Grace', lastName: 'Hopper', email: 'grace@example.com', tags: ['vip'], status: 'NEW' },
};

// @ts-expect-error a lead status is one of the enum's values
export const badCreate: CreateLeadMutationVariables = { input: { status: 'HOT' } };

export function created(result: CreateLeadMutation): string {
  return result.createLead.id;
}

export const update: UpdateLeadMutationVariables = { id: 'lead-id', input: { jobTitle: 'CTO', city: null } };

export function updatedTitle(result: UpdateLeadMutation): string | null {
  return result.updateLead.jobTitle;
}

// Sender accounts: the password is never part of the type.
export function senders(result: SenderAccountsQuery): string[] {
  return result.senderAccounts.nodes.map((account) => {
    // @ts-expect-error there is no password field to read
    void account.password;
    const limit = account.dailyLimit === null ? 'unlimited' : `${account.dailyLimit}/day`;
    return `${account.name} <${account.fromEmail}> via ${account.host}:${account.port} (${account.tlsMode}, ${limit})`;
  });
}

// Message statistics.
export function openRatePercent(result: MessageStatsQuery): string {
  const stats = result.messageStats;
  const rate: number = stats.openRate;
  return `${(rate * 100).toFixed(1)}% of ${stats.sent} sent`;
}

// A subscription event.
export function describeEvent(event: LeadEventsSubscription['domainEvents']): string {
  switch (event.kind) {
    case 'LEAD_CREATED':
      return `lead ${event.subjectId} created`;
    case 'LEAD_CHANGED': {
      const payload = event.payload as { fields?: string[] };
      return `lead ${event.subjectId} changed: ${(payload.fields ?? []).join(', ')}`;
    }
    default:
      return `${event.kind} ${event.subjectId}`;
  }
}
