/*
  Warnings:

  - A unique constraint covering the columns `[jwtSubject]` on the table `User` will be added. If there are existing duplicate values, this will fail.

*/
-- AlterTable
ALTER TABLE "User" ADD COLUMN     "jwtSubject" TEXT;

-- CreateIndex
CREATE UNIQUE INDEX "User_jwtSubject_key" ON "User"("jwtSubject");
