/** Part 3 of 4 of the default simulator campaign (200 seeds); see support/campaign-part.ts. */
import { campaignPart } from './support/campaign-part.js';

campaignPart(2, 4);
